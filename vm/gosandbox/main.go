// gosandbox: a sandbox server in the style of a production one, for testing groundflare's
// microVM with a contract other than the reference sandbox's (vm/sandbox/sandbox.c). A test
// fixture and demo, not a product: standard library only, built with Debian's Go.
//
//   - listens on --port (default 4000), all interfaces;
//   - reads its internal token from the environment variable named by --token-env (default
//     SANDBOX_INTERNAL_TOKEN), removes it from its environment (the commands it runs never
//     inherit it) and makes itself non-dumpable (they cannot read /proc/<pid>/environ or its
//     memory either);
//   - refuses every request without "Authorization: Bearer <token>" (401), /health included;
//   - GET /health; sessions (POST /api/sessions, DELETE /api/sessions/{id}) that keep a
//     working directory and environment; POST /api/sessions/{id}/exec streams a command's
//     output as server-sent events; GET/PUT /api/files?path= reads and writes a file,
//     GET /api/files/list?path= lists a folder; GET /api/pty is a shell on a terminal over a
//     WebSocket (binary frames: the terminal's bytes; a text frame
//     {"type":"resize","cols":C,"rows":R}: its size).
package main

import (
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"syscall"
)

const prSetDumpable = 4

type server struct {
	token    []byte
	sessions *sessions
}

func main() {
	port := flag.Int("port", 4000, "TCP port to listen on")
	tokenEnv := flag.String("token-env", "SANDBOX_INTERNAL_TOKEN", "environment variable holding the token")
	flag.Parse()
	token := os.Getenv(*tokenEnv)
	if token == "" {
		log.Fatalf("gosandbox: no token in $%s", *tokenEnv)
	}
	os.Unsetenv(*tokenEnv)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		log.Fatalf("gosandbox: prctl(PR_SET_DUMPABLE): %v", errno)
	}
	s := &server{token: []byte(token), sessions: newSessions()}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", s.health)
	mux.HandleFunc("/api/sessions", s.createSession)
	mux.HandleFunc("/api/sessions/", s.session)
	mux.HandleFunc("/api/files", s.file)
	mux.HandleFunc("/api/files/list", s.list)
	mux.HandleFunc("/api/pty", s.pty)
	log.Printf("gosandbox: listening on :%d", *port)
	log.Fatal(http.ListenAndServe(fmt.Sprintf(":%d", *port), s.authorized(mux)))
}

func (s *server) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(given), s.token) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]interface{}{"status": "ok", "uid": os.Getuid()})
}

func writeJSON(w http.ResponseWriter, status int, value interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(value)
}

func fail(w http.ResponseWriter, status int, format string, args ...interface{}) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}
