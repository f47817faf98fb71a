package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
	maxMessage     = 16 << 20
)

// A server-side WebSocket (RFC 6455): unfragmented writes, reassembled reads.
type wsConn struct {
	conn net.Conn
	rw   *bufio.ReadWriter
	mu   sync.Mutex
}

func upgrade(w http.ResponseWriter, r *http.Request) (*wsConn, error) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Key") == "" {
		return nil, errors.New("expected a WebSocket upgrade")
	}
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		return nil, errors.New("cannot take over the connection")
	}
	conn, rw, err := hijacker.Hijack()
	if err != nil {
		return nil, err
	}
	digest := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(digest[:]) + "\r\n\r\n")
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	return &wsConn{conn: conn, rw: rw}, nil
}

func (c *wsConn) write(opcode byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	head := []byte{0x80 | opcode, 0}
	switch n := len(payload); {
	case n < 126:
		head[1] = byte(n)
	case n < 1<<16:
		head[1] = 126
		head = binary.BigEndian.AppendUint16(head, uint16(n))
	default:
		head[1] = 127
		head = binary.BigEndian.AppendUint64(head, uint64(n))
	}
	if _, err := c.rw.Write(head); err != nil {
		return err
	}
	if _, err := c.rw.Write(payload); err != nil {
		return err
	}
	return c.rw.Flush()
}

// read returns the next data message (text or binary), answering pings on the way.
func (c *wsConn) read() (byte, []byte, error) {
	var message []byte
	var opcode byte
	for {
		var head [2]byte
		if _, err := io.ReadFull(c.rw, head[:]); err != nil {
			return 0, nil, err
		}
		fin, op, masked := head[0]&0x80 != 0, head[0]&0x0F, head[1]&0x80 != 0
		size := uint64(head[1] & 0x7F)
		if size == 126 {
			var ext [2]byte
			if _, err := io.ReadFull(c.rw, ext[:]); err != nil {
				return 0, nil, err
			}
			size = uint64(binary.BigEndian.Uint16(ext[:]))
		} else if size == 127 {
			var ext [8]byte
			if _, err := io.ReadFull(c.rw, ext[:]); err != nil {
				return 0, nil, err
			}
			size = binary.BigEndian.Uint64(ext[:])
		}
		if size > maxMessage || uint64(len(message))+size > maxMessage {
			return 0, nil, errors.New("message too large")
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(c.rw, mask[:]); err != nil {
				return 0, nil, err
			}
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(c.rw, payload); err != nil {
			return 0, nil, err
		}
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
		switch op {
		case opClose:
			c.write(opClose, payload)
			return 0, nil, io.EOF
		case opPing:
			c.write(opPong, payload)
			continue
		case opPong:
			continue
		case opText, opBinary:
			opcode, message = op, payload
		case opContinuation:
			message = append(message, payload...)
		}
		if fin {
			return opcode, message, nil
		}
	}
}

func (c *wsConn) close() { c.conn.Close() }
