package main

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestRequestSetID(t *testing.T) {
	r := tokensRequest("127.0.0.1:1", "k")
	if len(r.slots) != 2 {
		t.Fatalf("found %d id slots, want 2 (id and username)", len(r.slots))
	}
	buf := bytes.Clone(r.raw)
	r.setID(buf, 42)
	text := string(buf)
	for _, want := range []string{`"id":"c-0000000042"`, `"username":"user-0000000042"`} {
		if !strings.Contains(text, want) {
			t.Errorf("request lacks %s:\n%s", want, text)
		}
	}

	head, body, _ := strings.Cut(text, "\r\n\r\n")
	if want := "Content-Length: " + strconv.Itoa(len(body)); !strings.Contains(head, want) {
		t.Errorf("head lacks %q:\n%s", want, head)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		status  int
		closing bool
		wantErr bool
	}{
		{name: "content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n", status: 200},
		{name: "not modified has no body", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", status: 304},
		{name: "server closes", in: "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			status: 401, closing: true},
		{name: "no length", in: "HTTP/1.1 200 OK\r\n\r\nhello", status: 200, closing: true, wantErr: true},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n", wantErr: true},
		{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", status: 200, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A good answer comes twice, back to back: the first must be
			// read to its end and no further.
			in := tt.in
			if !tt.wantErr {
				in += tt.in
			}
			r := bufio.NewReader(strings.NewReader(in))
			status, closing, err := readResponse(r)
			if status != tt.status || closing != tt.closing || (err != nil) != tt.wantErr {
				t.Fatalf("readResponse = %d, %v, %v; want %d, %v, error %v",
					status, closing, err, tt.status, tt.closing, tt.wantErr)
			}
			if err != nil {
				return
			}
			if status, _, err := readResponse(r); status != tt.status || err != nil {
				t.Errorf("second answer = %d, %v; want %d: the first was not read exactly", status, err, tt.status)
			}
		})
	}
}
