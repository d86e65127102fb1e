package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jwt-up/jwt-up/service"
)

func tokenCmd(open openFunc) *cobra.Command {
	var (
		req    service.MintRequest
		claims []string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint one token locally with the stored active key, for debugging",
		Example: `  jwt-up token --consumer-id 4e1c --username alice --group gold --scope orders:read \
    --audience orders-api --claim tenant='"acme"'
  jwt-up token --config jwt-up.yaml --subject-token "$ID_TOKEN" --audience orders-api`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, c := range claims {
				name, value, ok := strings.Cut(c, "=")
				if !ok {
					return fmt.Errorf("--claim %q: write name=JSON, e.g. tenant='\"acme\"'", c)
				}
				if req.Claims == nil {
					req.Claims = map[string]json.RawMessage{}
				}
				req.Claims[name] = json.RawMessage(value)
			}

			a, err := open(cmd, true)
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.openMinter(); err != nil {
				return err
			}
			t, err := a.minter.Mint(cmd.Context(), req)
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintln(cmd.OutOrStdout(), t.Token)
				return nil
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"token": t.Token, "kid": t.KID, "expires_in": t.ExpiresIn,
				"expires_at": t.ExpiresAt})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Consumer.ID, "consumer-id", "", "consumer id")
	f.StringVar(&req.Consumer.Username, "username", "", "consumer username")
	f.StringVar(&req.Consumer.CustomID, "custom-id", "", "consumer custom id")
	f.StringSliceVar(&req.Groups, "group", nil, "group (repeat)")
	f.StringSliceVar(&req.Scopes, "scope", nil, "scope (repeat)")
	f.StringVar(&req.AuthenticatedUserID, "authenticated-userid", "", "authenticated user id")
	f.StringVar(&req.Audience, "audience", "", "audience (default: JWTUP_DEFAULT_AUDIENCE)")
	f.StringArrayVar(&claims, "claim", nil, "custom claim as name=JSON (repeat)")
	f.StringVar(&req.SubjectToken, "subject-token", "", "an incoming token to verify against the trusted issuers "+
		"of the settings file and re-sign (the consumer flags may then be left out)")
	f.BoolVar(&asJSON, "json", false, "print token, kid and expiry as JSON")
	return cmd
}
