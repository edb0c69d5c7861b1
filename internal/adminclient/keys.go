package adminclient

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apigate/caddy-apigate/keystore"
)

// PrintKey prints the key record of an admin API answer, one field a line;
// a new key's secret comes with the warning that it is shown once.
func PrintKey(w io.Writer, data []byte) error {
	var k keystore.View
	if err := json.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	// The fields in this order, each when it has a value or always shows.
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range []struct {
		name, value string
		always      bool
	}{
		{"key", k.Key, false}, {"id", k.ID, true}, {"consumer", k.Consumer, true},
		{"scopes", strings.Join(k.Scopes, " "), true}, {"status", string(k.Status), true},
		{"allowed_ips", strings.Join(k.AllowedIPs, " "), false}, {"description", k.Description, false},
		{"created_at", k.CreatedAt.Format(time.RFC3339), true}, {"expires_at", at(k.ExpiresAt), false},
		{"rotated_at", at(k.RotatedAt), false}, {"revoked_at", at(k.RevokedAt), false},
		{"rotated_from", k.RotatedFrom, false}, {"rotated_to", k.RotatedTo, false},
		{"revoked_successors", strings.Join(k.RevokedSuccessors, " "), false},
	} {
		if f.always || f.value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", f.name, f.value)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(k.Metadata)) {
		fmt.Fprintf(tw, "meta.%s:\t%s\n", name, k.Metadata[name])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if k.Key != "" {
		fmt.Fprintln(os.Stderr, "\nThis is the only time the key is shown: store it now.")
	}
	return nil
}

// PrintList prints the key records of a list answer, one key a line.
func PrintList(w io.Writer, data []byte) error {
	var keys []keystore.View
	if err := json.Unmarshal(data, &keys); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONSUMER\tSCOPES\tSTATUS\tCREATED\tEXPIRES\tMETADATA")
	for _, k := range keys {
		expires := "-"
		if !k.ExpiresAt.IsZero() {
			expires = k.ExpiresAt.Format(time.RFC3339)
		}
		meta := make([]string, 0, len(k.Metadata))
		for _, name := range slices.Sorted(maps.Keys(k.Metadata)) {
			meta = append(meta, name+"="+k.Metadata[name])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Consumer, strings.Join(k.Scopes, ","), k.Status, k.CreatedAt.Format(time.RFC3339), expires, strings.Join(meta, ","))
	}
	return tw.Flush()
}
