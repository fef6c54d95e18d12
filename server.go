// Command switchboard serves the Switchboard GraphQL API.
//
//	switchboard [--addr :8080] [--data-dir ./.switchboard]   serve (go run .)
//	switchboard token --account ID [--scope telephony:read] [--ttl 24h]
//
// Configuration comes from SWITCHBOARD_* environment variables (see `switchboard help`); the
// flags above override their variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/switchboard-dev/switchboard/app"
	"github.com/switchboard-dev/switchboard/auth"

	_ "github.com/switchboard-dev/switchboard/carriers/builtin" // the carrier plugins
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, getenv, stdout, stderr)
	case "token":
		return token(args, getenv, stdout)
	case "help":
		help(stdout)
		return nil
	default:
		return fmt.Errorf("unknown command %q: use serve, token or help", cmd)
	}
}

// loadConfig reads the environment, then lets --addr and --data-dir override it.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (app.Config, error) {
	addr := fs.String("addr", "", "listen address (SWITCHBOARD_ADDR)")
	dataDir := fs.String("data-dir", "", "data folder (SWITCHBOARD_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return app.Config{}, err
	}
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return cfg, err
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	return cfg, nil
}

func serve(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(flag.NewFlagSet("serve", flag.ContinueOnError), args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // once shutdown starts, a second Ctrl-C stops the process at once

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("SWITCHBOARD_ADDR: cannot listen on %s: %w", cfg.Addr, err)
	}
	banner(stdout, cfg, a, ln.Addr())
	log.Info("listening", "addr", ln.Addr().String(), "embedded", cfg.Embedded())
	if err := a.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

func banner(w io.Writer, cfg app.Config, a *app.App, addr net.Addr) {
	url := "http://" + addr.String() + "/"
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		url = fmt.Sprintf("http://localhost:%d/", tcp.Port)
	}
	fmt.Fprintf(w, "\nSwitchboard is up.\n  GraphQL:    %sgraphql\n", url)
	if cfg.Playground {
		fmt.Fprintf(w, "  Playground: %s\n", url)
	}
	if tok, ok := a.DevToken(24 * time.Hour); ok {
		fmt.Fprintf(w, "  Data:       %s (embedded database, in-process Redis, local key)\n", cfg.DataDir)
		fmt.Fprintf(w, "  Token for account %q, valid 24h (mint more with `go run . token --account ID`):\n\n    %s\n\n", cfg.DevAccount, tok)
	}
}

func token(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	account := fs.String("account", "", "the account (tenant) the token acts for; required")
	scope := fs.String("scope", "", "scopes, separated by spaces or commas: telephony:read, telephony:write (default: both)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	if *account == "" {
		return errors.New("token: --account is required")
	}
	secret := []byte(cfg.JWTSecret)
	if len(secret) == 0 {
		if !cfg.Embedded() || cfg.JWKSURL != "" {
			return errors.New("token: SWITCHBOARD_JWT_SECRET is not set; with SWITCHBOARD_JWKS_URL, tokens come from your identity provider")
		}
		if secret, err = auth.LoadOrCreateSecret(cfg.DataDir); err != nil {
			return fmt.Errorf("token: %w", err)
		}
	}
	scopes := strings.FieldsFunc(*scope, func(r rune) bool { return r == ',' || r == ' ' })
	tok, err := auth.Mint(secret, *account, scopes, *ttl)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func help(w io.Writer) {
	fmt.Fprint(w, "usage:\n  switchboard [serve] [--addr ADDR] [--data-dir DIR]\n  switchboard token --account ID [--scope SCOPES] [--ttl 24h]\n\nenvironment:\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, v := range app.Variables() {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Help)
	}
	tw.Flush()
}

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
