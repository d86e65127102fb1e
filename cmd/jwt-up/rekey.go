package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jwt-up/jwt-up/service"
	"github.com/jwt-up/jwt-up/store"
)

// maxKEKFile bounds what is read as a key-encryption key file: a base64
// key is 44 bytes, with room for white space.
const maxKEKFile = 4 << 10

// rekeyCmd is "keys rekey": a new key-encryption key for the stored keys.
func rekeyCmd(open openFunc) *cobra.Command {
	var newKEKFile string
	cmd := &cobra.Command{
		Use:   "rekey --new-kek-file FILE",
		Short: "Seal every stored private key again under a new key-encryption key",
		Long: "Seal every stored private key again under a new key-encryption key (KEK), in one " +
			"store transaction: if any key does not open with the current KEK (JWTUP_KEK, " +
			"JWTUP_KEK_FILE or the data dir's kek file), nothing is written. FILE holds the new KEK " +
			"in base64 (make one with: openssl rand -base64 32); - reads it from standard input. " +
			"Afterwards set the new KEK on every replica and restart them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			newKEK, err := readNewKEK(cmd.InOrStdin(), newKEKFile)
			if err != nil {
				return err
			}
			return rekey(cmd, open, newKEK)
		},
	}
	cmd.Flags().StringVar(&newKEKFile, "new-kek-file", "",
		"file holding the new base64 key-encryption key; - reads standard input")
	_ = cmd.MarkFlagRequired("new-kek-file") // never fails: the flag exists
	return cmd
}

// readNewKEK reads and decodes the new key-encryption key from path, or from
// stdin when path is "-". Errors never quote what was read.
func readNewKEK(stdin io.Reader, path string) ([]byte, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, maxKEKFile))
	} else {
		data, err = readLimited(path, maxKEKFile)
	}
	if err != nil {
		return nil, fmt.Errorf("--new-kek-file: %w", err)
	}
	kek, err := decodeKEK(string(data))
	if err != nil {
		return nil, fmt.Errorf("--new-kek-file: the new key-encryption key %w", err)
	}
	return kek, nil
}

// rekey opens the keys with the current key-encryption key, seals them all
// again under newKEK and tells the operator what to do next.
func rekey(cmd *cobra.Command, open openFunc, newKEK []byte) error {
	ctx := cmd.Context()
	a, err := open(cmd, false)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.checkRekey(ctx, newKEK); err != nil {
		return err
	}

	to, err := service.NewSealer(newKEK)
	if err != nil {
		return fmt.Errorf("--new-kek-file: %w", err)
	}
	n, err := a.keys.Rekey(ctx, to)
	if err != nil {
		return fmt.Errorf("nothing was changed: %w", err)
	}
	printRekeyed(cmd.OutOrStdout(), n, a.settings)
	return nil
}

// sealedKeys counts the keys that have a private part.
func sealedKeys(keys []store.Key) int {
	n := 0
	for _, k := range keys {
		if k.Sealed != nil {
			n++
		}
	}
	return n
}

// errNothingToRekey stops a rekey of a store that holds no private key.
var errNothingToRekey = errors.New("the key store holds no private key: nothing to rekey; " +
	"start jwt-up with the new key-encryption key instead")

// checkRekey loads the keys with the current key-encryption key and makes
// sure a rekey to newKEK means something. An empty store is refused before
// the current key is read, so that none is generated for it.
func (a *app) checkRekey(ctx context.Context, newKEK []byte) error {
	stored, err := a.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	if sealedKeys(stored) == 0 {
		return errNothingToRekey
	}
	if err := a.openKeys(ctx, false); err != nil {
		return err
	}
	if bytes.Equal(a.kek, newKEK) {
		return errors.New("--new-kek-file: the new key-encryption key is the one in use")
	}
	return nil
}

// printRekeyed says what was done and what the operator must do now.
func printRekeyed(w io.Writer, n int, s settings) {
	where := "the file JWTUP_KEK_FILE names, " + s.KEKFile
	switch {
	case s.KEK != nil:
		where = "JWTUP_KEK"
	case s.KEKFile == "":
		where = "the data dir's kek file, " + filepath.Join(s.DataDir, kekFileName)
	}
	fmt.Fprintf(w, "Sealed %d private keys under the new key-encryption key, in one transaction.\n\n", n)
	fmt.Fprintf(w, "Next:\n"+
		"1. On every replica, replace the old key-encryption key with the new one\n"+
		"   (in %s) and restart.\n"+
		"   Until it restarts, a replica on the old key signs with the key it holds\n"+
		"   but changes no key; started again on the old key, it refuses to start:\n"+
		"   \"JWTUP_KEK: the key-encryption key does not open the stored keys\".\n"+
		"2. Keep the old key as long as you keep backups of the key store made\n"+
		"   before now: they open only with the old key.\n", where)
}
