package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
)

// GET reads a file, PUT writes one (creating its folder), as the sandbox's own user.
func (s *server) file(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if !filepath.IsAbs(path) {
		fail(w, http.StatusBadRequest, "path must be absolute")
		return
	}
	switch r.Method {
	case http.MethodGet:
		f, err := os.Open(path)
		if err != nil {
			fail(w, http.StatusNotFound, "%v", err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		io.Copy(w, f)
	case http.MethodPut:
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fail(w, http.StatusForbidden, "%v", err)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			fail(w, http.StatusForbidden, "%v", err)
			return
		}
		_, err = io.Copy(f, r.Body)
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			fail(w, http.StatusInsufficientStorage, "%v", err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		fail(w, http.StatusMethodNotAllowed, "GET or PUT")
	}
}

type entry struct {
	Name string `json:"name"`
	Dir  bool   `json:"dir"`
	Size int64  `json:"size"`
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	found, err := os.ReadDir(r.URL.Query().Get("path"))
	if err != nil {
		fail(w, http.StatusNotFound, "%v", err)
		return
	}
	entries := []entry{}
	for _, item := range found {
		info, err := item.Info()
		if err != nil {
			continue
		}
		entries = append(entries, entry{item.Name(), item.IsDir(), info.Size()})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	writeJSON(w, http.StatusOK, map[string]interface{}{"entries": entries})
}
