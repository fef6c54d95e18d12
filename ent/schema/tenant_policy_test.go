package schema

import (
	"context"
	"testing"

	"github.com/switchboard-dev/switchboard/auth"
)

// SeenByViewer vouches only for the rows it was given, only for the account they were read as,
// and only to that account's viewer.
func TestSeenByViewerVouchesForItsOwnAccountOnly(t *testing.T) {
	alice := auth.NewContext(context.Background(), auth.Viewer{AccountID: "acct_alice", Read: true, Write: true})
	bob := auth.NewContext(context.Background(), auth.Viewer{AccountID: "acct_bob", Read: true, Write: true})

	seen := SeenByViewer(alice, "acct_alice", "pn_1", "prov_1")
	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   string
		want bool
	}{
		{"a row it read", seen, "pn_1", true},
		{"the other row it read", seen, "prov_1", true},
		{"a row it did not read", seen, "pn_2", false},
		{"its rows, another viewer", auth.NewContext(seen, auth.Viewer{AccountID: "acct_bob", Write: true}), "pn_1", false},
		{"rows of another account", SeenByViewer(alice, "acct_bob", "pn_9"), "pn_9", false},
		{"another viewer vouching for the same rows", SeenByViewer(bob, "acct_alice", "pn_1"), "pn_1", false},
		{"no viewer", SeenByViewer(context.Background(), "acct_alice", "pn_1"), "pn_1", false},
	} {
		if got := seenByViewer(tc.ctx, tc.id); got != tc.want {
			t.Errorf("%s: seenByViewer(%s) = %v, want %v", tc.name, tc.id, got, tc.want)
		}
	}
}
