package carriertest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Server is a fake carrier API on loopback for plugin tests. It records every request and
// answers each with the status and body set by [Server.Reply] (500 and "{}" at first), or, after
// [Server.Hang], never answers until the client gives up.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	requests []Request
	status   int
	body     string
	hang     bool
	done     chan struct{}
}

// Request is what a [Server] received.
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// NewServer starts a Server; Close it when done.
func NewServer() *Server {
	s := &Server{status: http.StatusInternalServerError, body: "{}", done: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	status, reply, hang := s.status, s.body, s.hang
	s.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, reply)
}

// Reply sets the answer to the next requests and forgets the requests received so far.
func (s *Server) Reply(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.hang, s.requests = status, body, false, nil
}

// Hang makes the next requests wait for the client to give up, and forgets the requests
// received so far.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang, s.requests = true, nil
}

// Requests returns the requests received since the last Reply or Hang.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Close releases hanging requests and stops the server.
func (s *Server) Close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.Server.Close()
}

// UnreachableURL returns the base URL of a loopback port nothing listens on, so connecting to
// it is refused at once.
func UnreachableURL() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "http://127.0.0.1:1"
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
