// Command ferretdb-server runs FerretDB v1.24.2 for Anti-OOM's tests, benchmarks and demo, with
// its PostgreSQL backend when --postgresql is given (keyed updates use PostgreSQL indexes) and its
// SQLite backend otherwise. It embeds FerretDB through its public package because `go install` of
// FerretDB's own main package panics at start-up (its version check wants a version.txt that
// module downloads lack).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "", "directory for SQLite files")
	postgresql := flag.String("postgresql", "", "PostgreSQL URL; the SQLite backend in --dir when empty")
	flag.Parse()
	if *dir == "" && *postgresql == "" {
		fmt.Fprintln(os.Stderr, "--dir or --postgresql is required")
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
	}
	if *postgresql != "" {
		config.Handler = "postgresql"
		config.PostgreSQLURL = *postgresql
	} else {
		config.Handler = "sqlite"
		config.SQLiteURL = "file:" + *dir + "/"
	}
	f, err := ferretdb.New(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go exitWithParent(cancel)
	if err := f.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// exitWithParent stops the server when the process that started it is gone, so a test run that
// is killed never leaves a database behind.
func exitWithParent(cancel context.CancelFunc) {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			cancel()
			return
		}
	}
}
