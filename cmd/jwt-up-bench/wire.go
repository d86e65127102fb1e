package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// idDigits is the width of a consumer number inside a request. It is fixed
// so that a request built once can take any number in place, without
// changing its length or its Content-Length.
const idDigits = 10

// idMark stands where the consumer number goes while a request is built.
var idMark = strings.Repeat("#", idDigits)

// sampleID is the consumer number of the sample request the ceilings copy
// their answers from. No load ever reaches it, so it stays out of the way
// of the consumers a scenario counts.
const sampleID = 9_999_999_999

// request is an HTTP/1.1 request built before a round. Each connection
// sends its own copy, with the consumer number written in place.
type request struct {
	raw   []byte
	slots []int // where each copy of the consumer number starts
}

// newRequest builds a request from its text, finding every idMark.
func newRequest(text string) request {
	r := request{raw: []byte(text)}
	mark := []byte(idMark)
	for at := 0; ; at += idDigits {
		i := bytes.Index(r.raw[at:], mark)
		if i < 0 {
			break
		}
		at += i
		r.slots = append(r.slots, at)
	}
	r.setID(r.raw, 0)
	return r
}

// setID writes id, zero padded, into every slot of buf, a copy of r.raw.
func (r request) setID(buf []byte, id uint64) {
	for _, at := range r.slots {
		v := id
		for i := at + idDigits - 1; i >= at; i-- {
			buf[i] = byte('0' + v%10)
			v /= 10
		}
	}
}

// tokensBody is the mint request body every tokens scenario sends: what a
// gateway knows of a consumer after key-auth with ACL groups.
func tokensBody() string {
	return `{"consumer":{"id":"c-` + idMark + `","username":"user-` + idMark + `"},` +
		`"groups":["gold","eu"],"scopes":["orders:read","orders:write"],` +
		`"audience":"orders-api","claims":{"tenant":"acme"}}`
}

// tokensRequest is POST /v1/tokens for host with the gateway key.
func tokensRequest(host, key string) request {
	body := tokensBody()
	return newRequest("POST /v1/tokens HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Authorization: Bearer " + key + "\r\n" +
		"Content-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"\r\n" + body)
}

// authRequest is GET /v1/auth with the same consumer in Kong's headers.
func authRequest(host, key string) request {
	return newRequest("GET /v1/auth HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Authorization: Bearer " + key + "\r\n" +
		"X-Consumer-ID: c-" + idMark + "\r\n" +
		"X-Consumer-Username: user-" + idMark + "\r\n" +
		"X-Consumer-Groups: gold, eu\r\n" +
		"X-Authenticated-Scope: orders:read orders:write\r\n" +
		"X-JWT-Audience: orders-api\r\n" +
		"\r\n")
}

// jwksRequest is GET /.well-known/jwks.json, conditional when etag is set.
func jwksRequest(host, etag string) request {
	cond := ""
	if etag != "" {
		cond = "If-None-Match: " + etag + "\r\n"
	}
	return newRequest("GET /.well-known/jwks.json HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" + cond + "\r\n")
}

// errNoLength means a response had neither Content-Length nor chunked
// encoding; its end could only be found by the connection closing.
var errNoLength = errors.New("response without Content-Length or chunked encoding")

// readResponse reads one HTTP/1.1 response from r and discards its body.
// It returns the status code, and whether the server will close the
// connection after it.
func readResponse(r *bufio.Reader) (status int, closing bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}

	length, chunked, closing, err := readHeaders(r)
	if err != nil {
		return status, closing, err
	}
	switch {
	case status == 204 || status == 304 || status < 200:
		return status, closing, nil
	case chunked:
		return status, closing, discardChunks(r)
	case length >= 0:
		_, err = r.Discard(length)
		return status, closing, err
	}
	return status, true, errNoLength
}

// readHeaders reads the header lines up to the blank one, keeping only
// what says where the body ends. length is -1 when not given.
func readHeaders(r *bufio.Reader) (length int, chunked, closing bool, err error) {
	length = -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return length, chunked, closing, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return length, chunked, closing, nil
		}

		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return -1, false, closing, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
}

// discardChunks skips a chunked body and its trailer.
func discardChunks(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		sizeText, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := strconv.ParseUint(string(bytes.TrimSpace(sizeText)), 16, 31)
		if err != nil {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if size == 0 {
			_, _, _, err := readHeaders(r) // the trailer, up to its blank line
			return err
		}
		if _, err := r.Discard(int(size) + 2); err != nil { // the data and its CRLF
			return err
		}
	}
}
