package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/rs/cors"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/calls"
	"github.com/switchboard-dev/switchboard/graph"
)

// playgroundTokenTTL is how long the token pre-filled in the embedded playground lasts.
const playgroundTokenTTL = 24 * time.Hour

// Handler returns the server's HTTP routes:
//
//	/graphql  the API (POST, GET, websocket)
//	/         the GraphiQL playground
//	/healthz  the process is up
//	/readyz   the database and Redis answer
//	/webhooks/{carrier}/{providerID}  carriers' signed status callbacks
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	gql := graph.NewHandler(a.resolver(), graph.Options{
		Logger:          a.log,
		Authenticator:   a.auth,
		ComplexityLimit: a.cfg.ComplexityLimit,
		DepthLimit:      a.cfg.MaxDepth,
		TokenLimit:      a.cfg.MaxTokens,
		Introspection:   a.cfg.Introspection,
	})
	api := a.limitBody(auth.Middleware(a.auth, gql))
	if len(a.cfg.CORSOrigins) > 0 {
		api = cors.New(cors.Options{
			AllowedOrigins: a.cfg.CORSOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: []string{"Authorization", "Content-Type", auth.AccountHeader},
			MaxAge:         600,
		}).Handler(api)
	}
	mux.Handle("/graphql", api)
	switch {
	case a.cfg.Playground && a.cfg.Introspection:
		mux.HandleFunc("GET /{$}", a.playground)
	case a.cfg.Playground:
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "The GraphiQL playground is not served: it needs introspection, which this server has turned off (SWITCHBOARD_INTROSPECTION=false). Send GraphQL requests to /graphql.", http.StatusNotFound)
		})
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle(calls.WebhookPattern, http.MaxBytesHandler(http.HandlerFunc(a.Calls().ServeWebhook), a.cfg.MaxBodyBytes))
	return a.logRequests(mux)
}

// playground serves GraphiQL. In the embedded setup, and only for a request from this machine
// to a local host name, its Authorization header is filled in with a fresh development token:
// the server listens on every interface, and the token can write.
func (a *App) playground(w http.ResponseWriter, r *http.Request) {
	var headers map[string]string
	if tok, ok := a.DevToken(playgroundTokenTTL); ok && isLocalRequest(r) {
		headers = map[string]string{"Authorization": "Bearer " + tok}
	}
	playground.Handler("Switchboard", "/graphql",
		playground.WithGraphiqlUiHeaders(headers),
		playground.WithStoragePrefix("switchboard"),
	).ServeHTTP(w, r)
}

// isLocalRequest reports a request from a loopback address to a loopback host name. Checking the
// Host too keeps a web page elsewhere from reading the token through DNS rebinding.
func isLocalRequest(r *http.Request) bool {
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip, perr := netip.ParseAddr(remote); err != nil || perr != nil || !ip.IsLoopback() {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// ready answers 200 when the database and Redis respond, 503 naming the one that does not.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"database": "ok", "redis": "ok"}
	code := http.StatusOK
	if err := a.db.PingContext(ctx); err != nil {
		status["database"], code = "unavailable", http.StatusServiceUnavailable
		a.log.WarnContext(ctx, "readiness: database", "err", err)
	}
	if err := a.redis.Ping(ctx).Err(); err != nil {
		status["redis"], code = "unavailable", http.StatusServiceUnavailable
		a.log.WarnContext(ctx, "readiness: redis", "err", err)
	}
	writeJSON(w, code, status)
}

// limitBody refuses, with a GraphQL-shaped BAD_USER_INPUT error, a body or a query string
// over the configured size (also a chunked body, which announces no length) and a batch (a JSON
// array of operations: one request runs one operation). The body is read here, as gqlgen would
// read it anyway.
func (a *App) limitBody(next http.Handler) http.Handler {
	limit := a.cfg.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := int64(len(r.URL.RawQuery)); n > limit {
			refuse(w, http.StatusRequestURITooLong, "the query string is %d bytes; the most this server accepts is %d: send the operation as a POST body instead", n, limit)
			return
		}
		if r.ContentLength > limit {
			refuse(w, http.StatusRequestEntityTooLarge, "the request body is %d bytes; the most this server accepts is %d", r.ContentLength, limit)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			refuse(w, http.StatusRequestEntityTooLarge, "the request body is more than %d bytes, the most this server accepts", limit)
			return
		case err != nil:
			refuse(w, http.StatusBadRequest, "the request body could not be read: send it again")
			return
		case bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")):
			refuse(w, http.StatusBadRequest, "batched operations (a JSON array) are not accepted: send each operation in a request of its own, as a JSON object such as {\"query\": \"{ carriers { id } }\"}")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request the GraphQL handler never sees with a GraphQL-shaped BAD_USER_INPUT
// error.
func refuse(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{
		"message":    fmt.Sprintf(format, args...),
		"extensions": map[string]any{"code": apperr.BadUserInput},
	}}})
}

// logRequests writes one line per request. Only the path is logged: query strings and bodies
// may carry credentials.
func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (websocket upgrades, flushes).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve answers HTTP on ln until ctx ends, then shuts down gracefully: new connections are
// refused and in-flight requests get ShutdownTimeout to finish. Then every request context is
// cancelled, which also closes websocket connections (http.Server does not track those), and
// whatever is still open is closed.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	a.listenURL = "http://" + reachable(ln.Addr())
	calls := a.Calls()
	// Requests outlive ctx (so a shutdown can be graceful) but not Serve.
	base, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	sweeping := make(chan struct{})
	go func() {
		defer close(sweeping)
		calls.Run(base, a.cfg.SweepInterval)
	}()
	defer func() { cancelRequests(); <-sweeping }()
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(base, a.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	cancelRequests()
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// reachable is addr as a host:port this machine can dial: an unspecified IP becomes loopback.
func reachable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}
