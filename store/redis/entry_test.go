package redis

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/store"
)

// decodePlainly decodes an entry the obvious way, with no shortcut, for
// decode to be checked against.
func decodePlainly(subject, v string) (store.Token, error) {
	fields := strings.SplitN(v, "|", 3)
	if len(fields) != 3 || fields[2] == "" {
		return store.Token{}, errMalformed
	}
	stale, err1 := strconv.ParseInt(fields[0], 10, 64)
	exp, err2 := strconv.ParseInt(fields[1], 10, 64)
	if err1 != nil || err2 != nil {
		return store.Token{}, errMalformed
	}
	t := store.Token{Subject: subject, ExpiresAt: time.UnixMilli(exp), StaleAt: time.UnixMilli(stale)}

	form, data := fields[2][0], []byte(fields[2][1:])
	var chunks []string
	for len(data) > 0 && (form == 'J' || len(chunks) == 0) {
		n, size := binary.Uvarint(data)
		if size <= 0 || n > uint64(len(data)-size) {
			return store.Token{}, errMalformed
		}
		chunks = append(chunks, string(data[size:size+int(n)]))
		data = data[size+int(n):]
	}
	switch {
	case form == 'T' && len(chunks) == 1:
		t.KID, t.Value = chunks[0], string(data)
	case form == 'J' && len(chunks) == 3:
		var h struct{ KID string }
		if json.Unmarshal([]byte(chunks[0]), &h) == nil {
			t.KID = h.KID
		}
		for i, c := range chunks {
			chunks[i] = base64.RawURLEncoding.EncodeToString([]byte(c))
		}
		t.Value = strings.Join(chunks, ".")
	default:
		return store.Token{}, errMalformed
	}
	return t, nil
}

// checkDecode fails the test unless decode and decodePlainly agree on v.
func checkDecode(t *testing.T, v string) {
	t.Helper()
	got, err := decode("s", v)
	want, wantErr := decodePlainly("s", v)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decode(%q) error = %v, want %v", v, err, wantErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decode(%q) mismatch (-want +got):\n%s", v, diff)
	}
}

// entrySeeds returns entries of every shape: both forms, well made or not.
func entrySeeds() []string {
	enc := base64.RawURLEncoding
	jws := enc.EncodeToString([]byte(`{"alg":"ES256","kid":"k1"}`)) + "." +
		enc.EncodeToString([]byte(`{"sub":"a"}`)) + "." + enc.EncodeToString(make([]byte, 64))
	good := encode(store.Token{Value: jws, KID: "k1", StaleAt: time.UnixMilli(1), ExpiresAt: time.UnixMilli(2)})
	return []string{
		good, good[:len(good)-1], good + "x",
		encode(store.Token{Value: "x|y", KID: "k|1"}),
		"1|2|J\x02{}\x00\x00", "1|2|J\x08not json\x00\x00", "1|2|J\x02{}\x00",
		"1|2|T\x00", "1|2|T\x09k", "1|2|J\xff", "", "1|2|", "1|2|X", "-1|-2|T\x00v",
	}
}

func TestDecodeMatchesPlainDecoding(t *testing.T) {
	for _, v := range entrySeeds() {
		checkDecode(t, v)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range entrySeeds() {
		f.Add(v)
	}
	f.Fuzz(checkDecode)
}

func FuzzEntryRoundTrip(f *testing.F) {
	enc := base64.RawURLEncoding
	f.Add(`{"kid":"k1"}`, []byte("claims"), []byte("signature"), "k1", int64(1), int64(2))
	f.Add(`{"kid":"k1"}`, []byte{}, []byte{}, "k2", int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, header string, payload, sig []byte, kid string, stale, exp int64) {
		in := store.Token{
			Subject:   "s",
			Value:     enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig),
			KID:       kid,
			StaleAt:   time.UnixMilli(stale),
			ExpiresAt: time.UnixMilli(exp),
		}
		out, err := decode("s", encode(in))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !out.StaleAt.Equal(in.StaleAt) || !out.ExpiresAt.Equal(in.ExpiresAt) {
			t.Errorf("times %v, %v; want %v, %v", out.StaleAt, out.ExpiresAt, in.StaleAt, in.ExpiresAt)
		}
		if out.Value != in.Value || out.KID != in.KID {
			t.Errorf("got %q signed by %q, want %q signed by %q", out.Value, out.KID, in.Value, in.KID)
		}
	})
}

// TestDecodeManyHeaders decodes tokens of more kids than headerCache holds,
// from several goroutines at once, so that it forgets headers while
// others read it.
func TestDecodeManyHeaders(t *testing.T) {
	enc := base64.RawURLEncoding
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3 * maxHeaders {
				kid := fmt.Sprintf("k%d", (g*7+i)%(2*maxHeaders))
				value := enc.EncodeToString([]byte(`{"kid":"`+kid+`"}`)) + ".cGF5bG9hZA.c2ln"
				got, err := decode("s", encode(store.Token{Value: value, KID: kid}))
				if err != nil || got.KID != kid || got.Value != value {
					t.Errorf("decode = %q signed by %q, %v; want %q signed by %q",
						got.Value, got.KID, err, value, kid)
					return
				}
			}
		})
	}
	wg.Wait()
}
