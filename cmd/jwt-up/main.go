// Command jwt-up mints short-lived JWTs for upstream APIs on behalf of an API
// gateway and publishes the JWKS that upstreams verify them with.
//
// Run with no arguments it serves on :8080 with embedded defaults: SQLite
// under ./data, an in-process token cache, and a key-encryption key and a
// gateway key generated on first start.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// openFunc builds the app for a command, with or without its keys.
type openFunc func(cmd *cobra.Command, keys bool) (*app, error)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Getenv, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwt-up:", err)
		os.Exit(1)
	}
}

// newRootCmd builds the command tree. getenv and the writers are injected so
// tests can run commands in process.
func newRootCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "jwt-up",
		Short:         "Mint short-lived JWTs for upstream APIs on behalf of an API gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	addSettingFlags(root.PersistentFlags())

	open := func(cmd *cobra.Command, keys bool) (*app, error) {
		return newApp(cmd.Context(), cmd.Flags(), getenv, stderr, keys)
	}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hup := notifyReload()
			a, err := open(cmd, true)
			if err != nil {
				signal.Stop(hup)
				return err
			}
			defer a.Close()
			a.hup = hup
			return a.serve(cmd.Context())
		},
	}
	root.RunE = serve.RunE
	root.AddCommand(serve, migrateCmd(open), keysCmd(open), tokenCmd(open), verifyCmd(open), versionCmd())
	return root
}

func migrateCmd(open openFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the schema migrations to the key store, then exit",
		Long: "Apply the schema migrations to the key store, then exit. " +
			"serve applies them too; run this first when the server's database user may not change the schema.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := open(cmd, false)
			if err != nil {
				return err
			}
			defer a.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "key store schema is up to date")
			return nil
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "jwt-up", buildVersion())
		},
	}
}

// buildVersion returns the version set at build time, else what the Go
// build recorded.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
