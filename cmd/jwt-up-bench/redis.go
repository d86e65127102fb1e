package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// benchDB is the only Redis database the bench uses. It flushes it before
// each Redis scenario, so it refuses any other: a typo must not empty the
// database of something else.
const benchDB = 1

// checkRedisURL accepts a redis:// URL on 127.0.0.1 naming database 1.
func checkRedisURL(raw string) error {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return err
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("host %q: the bench talks to 127.0.0.1 only", host)
	}
	if opts.DB != benchDB {
		return fmt.Errorf("database %d: the bench flushes its database, so it takes database %d only",
			opts.DB, benchDB)
	}
	return nil
}

// redisProbe reads and resets the bench's Redis database.
type redisProbe struct {
	url    string
	client *redis.Client
}

// openRedis connects to url and checks that it answers.
func openRedis(ctx context.Context, url string) (*redisProbe, error) {
	if err := checkRedisURL(url); err != nil {
		return nil, err
	}
	opts, _ := redis.ParseURL(url) // checked above
	client := redis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis %s: %w", opts.Addr, err)
	}
	return &redisProbe{url: url, client: client}, nil
}

// flush empties database 1, and nothing else.
func (r *redisProbe) flush(ctx context.Context) error {
	if err := r.client.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("redis FLUSHDB: %w", err)
	}
	return nil
}

// redisUsage is what Redis holds at one moment.
type redisUsage struct {
	usedMemory int64 // bytes, as INFO memory says
	keys       int64 // in the bench's database
}

// usage reads used_memory and the number of keys.
func (r *redisProbe) usage(ctx context.Context) (redisUsage, error) {
	info, err := r.client.Info(ctx, "memory").Result()
	if err != nil {
		return redisUsage{}, fmt.Errorf("redis INFO memory: %w", err)
	}
	used, err := infoField(info, "used_memory")
	if err != nil {
		return redisUsage{}, err
	}
	keys, err := r.client.DBSize(ctx).Result()
	if err != nil {
		return redisUsage{}, fmt.Errorf("redis DBSIZE: %w", err)
	}
	return redisUsage{usedMemory: used, keys: keys}, nil
}

// infoField finds "name:value" in the text of INFO.
func infoField(info, name string) (int64, error) {
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":")
		if ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("redis INFO has no " + name)
}

func (r *redisProbe) close() { r.client.Close() }
