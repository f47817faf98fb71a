package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A session keeps where commands run and what they see, across requests.
type session struct {
	Cwd string            `json:"cwd"`
	Env map[string]string `json:"env"`
}

type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newSessions() *sessions { return &sessions{byID: map[string]*session{}} }

func newID() string {
	raw := make([]byte, 12)
	rand.Read(raw)
	return hex.EncodeToString(raw)
}

func (s *server) createSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST creates a session")
		return
	}
	body := session{Cwd: "/workspace", Env: map[string]string{}}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		fail(w, http.StatusBadRequest, "bad session: %v", err)
		return
	}
	id := newID()
	s.sessions.mu.Lock()
	s.sessions.byID[id] = &body
	s.sessions.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]interface{}{"id": id, "cwd": body.Cwd})
}

// /api/sessions/{id} (DELETE) and /api/sessions/{id}/exec (POST).
func (s *server) session(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/sessions/"), "/")
	s.sessions.mu.Lock()
	sess, ok := s.sessions.byID[parts[0]]
	if ok && len(parts) == 1 && r.Method == http.MethodDelete {
		delete(s.sessions.byID, parts[0])
	}
	s.sessions.mu.Unlock()
	switch {
	case !ok:
		fail(w, http.StatusNotFound, "no session %q", parts[0])
	case len(parts) == 1 && r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	case len(parts) == 2 && parts[1] == "exec" && r.Method == http.MethodPost:
		s.exec(w, r, sess)
	default:
		fail(w, http.StatusNotFound, "no such endpoint")
	}
}

type execRequest struct {
	Command   string `json:"command"`
	Stdin     string `json:"stdin"`
	TimeoutMs int    `json:"timeout_ms"`
}

// exec runs `sh -c command` in the session and streams server-sent events: `stdout` and
// `stderr` ({"data": text}) as the output comes, then `exit` ({"code": N}).
func (s *server) exec(w http.ResponseWriter, r *http.Request, sess *session) {
	var req execRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Command == "" {
		fail(w, http.StatusBadRequest, "expected {\"command\": ...}")
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		fail(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	ctx := r.Context()
	if req.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	cmd := exec.Command("sh", "-c", req.Command)
	cmd.Dir = sess.Cwd
	cmd.Env = os.Environ()
	for name, value := range sess.Env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	cmd.Stdin = strings.NewReader(req.Stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		fail(w, http.StatusBadRequest, "cannot start: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	var mu sync.Mutex
	send := func(event string, value interface{}) {
		data, _ := json.Marshal(value)
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		flusher.Flush()
	}
	var wg sync.WaitGroup
	for name, pipe := range map[string]io.Reader{"stdout": stdout, "stderr": stderr} {
		wg.Add(1)
		go func(name string, pipe io.Reader) {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := pipe.Read(buf)
				if n > 0 {
					send(name, map[string]string{"data": string(buf[:n])})
				}
				if err != nil {
					return
				}
			}
		}(name, pipe)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	wg.Wait()
	err := cmd.Wait()
	close(done)
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	}
	send("exit", map[string]int{"code": code})
}
