package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"unsafe"
)

// openPty returns a terminal's controller and the path of its other end (/dev/pts/N).
func openPty() (*os.File, string, error) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, "", err
	}
	unlock := int32(0)
	if err := ioctl(ptmx, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); err != nil {
		ptmx.Close()
		return nil, "", err
	}
	var number uint32
	if err := ioctl(ptmx, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&number))); err != nil {
		ptmx.Close()
		return nil, "", err
	}
	return ptmx, fmt.Sprintf("/dev/pts/%d", number), nil
}

func ioctl(f *os.File, request, arg uintptr) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), request, arg); errno != 0 {
		return errno
	}
	return nil
}

func resize(f *os.File, cols, rows int) error {
	size := struct{ rows, cols, x, y uint16 }{uint16(rows), uint16(cols), 0, 0}
	return ioctl(f, syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&size)))
}

// GET /api/pty?cols=C&rows=R[&session=ID]: a login-style shell on a terminal, over a WebSocket.
func (s *server) pty(w http.ResponseWriter, r *http.Request) {
	cwd, env := "/workspace", os.Environ()
	if id := r.URL.Query().Get("session"); id != "" {
		s.sessions.mu.Lock()
		sess, ok := s.sessions.byID[id]
		s.sessions.mu.Unlock()
		if !ok {
			fail(w, http.StatusNotFound, "no session %q", id)
			return
		}
		cwd = sess.Cwd
		for name, value := range sess.Env {
			env = append(env, name+"="+value)
		}
	}
	ptmx, name, err := openPty()
	if err != nil {
		fail(w, http.StatusInternalServerError, "no terminal: %v", err)
		return
	}
	defer ptmx.Close()
	cols, _ := strconv.Atoi(r.URL.Query().Get("cols"))
	rows, _ := strconv.Atoi(r.URL.Query().Get("rows"))
	if cols > 0 && rows > 0 {
		resize(ptmx, cols, rows)
	}
	tty, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		fail(w, http.StatusInternalServerError, "no terminal: %v", err)
		return
	}
	shell := "/bin/bash"
	if _, err := os.Stat(shell); err != nil {
		shell = "/bin/sh"
	}
	cmd := exec.Command(shell, "-i")
	cmd.Dir, cmd.Env = cwd, append(env, "TERM=xterm-256color")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		tty.Close()
		fail(w, http.StatusInternalServerError, "cannot start %s: %v", shell, err)
		return
	}
	tty.Close()
	ws, err := upgrade(w, r)
	if err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	defer ws.close()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := ptmx.Read(buf)
			if n > 0 && ws.write(opBinary, buf[:n]) != nil {
				break
			}
			if err != nil {
				break
			}
		}
		ws.write(opClose, []byte{0x03, 0xE8})
		ws.close()
	}()
	for {
		opcode, data, err := ws.read()
		if err != nil {
			break
		}
		if opcode == opText {
			var control struct {
				Type       string
				Cols, Rows int
			}
			if json.Unmarshal(data, &control) == nil && control.Type == "resize" {
				resize(ptmx, control.Cols, control.Rows)
			}
			continue
		}
		if _, err := ptmx.Write(data); err != nil {
			break
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGHUP)
	cmd.Wait()
}
