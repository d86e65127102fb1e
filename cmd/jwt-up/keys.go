package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jwt-up/jwt-up/service"
	"github.com/jwt-up/jwt-up/store"
)

func keysCmd(open openFunc) *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "List, rotate, import and rekey signing keys in the key store",
		Long: "List, rotate, import and rekey signing keys, working on the key store directly. " +
			"A running server sees the change at its next key refresh (JWTUP_KEY_REFRESH).",
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List every key with its state and times, changing nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := open(cmd, false)
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.openKeys(cmd.Context(), false); err != nil {
				return err
			}
			return printKeys(cmd.OutOrStdout(), a.keys.Keys())
		},
	}

	var immediate bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Stage a new key: it signs after one JWKS max-age, or at once with --immediate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := open(cmd, true)
			if err != nil {
				return err
			}
			defer a.Close()
			k, err := a.keys.Rotate(cmd.Context(), immediate)
			if err != nil {
				return err
			}
			return printKeys(cmd.OutOrStdout(), []store.Key{k})
		},
	}
	rotate.Flags().BoolVar(&immediate, "immediate", false, "sign with the new key at once")

	var importImmediate bool
	importCmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a PEM private key (PKCS #8, PKCS #1 or SEC 1) as the next key",
		Long: "Import a PEM private key (PKCS #8, PKCS #1 or SEC 1) as the next key. " +
			"It must fit JWTUP_SIGNING_ALG: an RSA key of 2048 bits or more for RS256 and PS256, " +
			"P-256 for ES256, P-384 for ES384, Ed25519 for EdDSA.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pemData, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			priv, err := service.ParsePrivateKeyPEM(pemData)
			if err != nil {
				return err
			}
			a, err := open(cmd, false)
			if err != nil {
				return err
			}
			defer a.Close()
			// Refuse a key that does not fit before the store is touched.
			if err := service.CheckImport(priv, a.settings.SigningAlg); err != nil {
				return err
			}
			if err := a.openKeys(cmd.Context(), true); err != nil {
				return err
			}
			k, err := a.keys.Import(cmd.Context(), priv, importImmediate)
			if err != nil {
				return err
			}
			return printKeys(cmd.OutOrStdout(), []store.Key{k})
		},
	}
	importCmd.Flags().BoolVar(&importImmediate, "immediate", false, "sign with the imported key at once")

	keys.AddCommand(list, rotate, importCmd, rekeyCmd(open))
	return keys
}

// printKeys writes keys as a table.
func printKeys(w io.Writer, keys []store.Key) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tSIGNS FROM\tRETIRED\tLEAVES JWKS")
	for _, k := range keys {
		signs := k.ActivatedAt
		if k.State == store.KeyNext {
			signs = k.ActivatesAt
		}
		leaves := k.RemoveAt
		if !k.RemovedAt.IsZero() {
			leaves = k.RemovedAt
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State,
			stamp(k.CreatedAt), stamp(signs), stamp(k.RetiredAt), stamp(leaves))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
