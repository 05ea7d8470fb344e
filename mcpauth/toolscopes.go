package mcpauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/authkit-go/authkit"
)

// maxBody bounds the request bodies ToolScopes reads: the SDK's own default
// (mcp.DefaultMaxRequestBodyBytes).
const maxBody = 4 << 20

// ToolScopes returns middleware for an MCP endpoint, inside [Require], that
// scopes tools: a tools/call of a tool named in tools (tool name → scopes it
// needs) goes through only when j's token grants all of them; a tool not
// named needs no more than Require asked. A refused call gets the kit's 403
// error="insufficient_scope" with the tool's scope="…" (opts as for
// [authkit.Require]; [authkit.WithErrorHandler] answers if given): the MCP
// specification's scope challenge, which the SDK's client answers with a
// step-up authorization and a retry. The check is on the HTTP request, where
// the status can still be set: it reads a POST body (at most 4 MiB, the
// SDK's default bound: more is 413), finds every JSON-RPC tools/call in it
// (a batch too), matching member names exactly as the SDK does, and passes
// it on unchanged. A body that is not JSON goes on to the SDK, which refuses
// it. Scoped tools should need at least Require's scopes; tools/list still
// lists them all. The middleware is safe for concurrent use; it panics at
// construction if j is nil, a scope is invalid or opts are.
func ToolScopes[U any](j *authkit.JWT[U], tools map[string][]string, opts ...authkit.Option) func(http.Handler) http.Handler {
	if j == nil {
		panic("mcpauth: nil JWT")
	}
	// One guard per tool, built once: the token is verified again there (a
	// hit in the kit's verified-token cache) and the kit words the refusal.
	guards := make(map[string]func(http.Handler) http.Handler, len(tools))
	for name, scopes := range tools {
		if len(scopes) > 0 {
			guards[name] = authkit.Require[U](j, append(slices.Clip(opts), authkit.WithScopes(scopes...))...)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.Body == nil || len(guards) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			r.Body.Close()
			if err != nil {
				status := http.StatusBadRequest
				if mbe := new(http.MaxBytesError); errors.As(err, &mbe) {
					status = http.StatusRequestEntityTooLarge
				}
				http.Error(w, http.StatusText(status), status)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			h := next
			var seen []string
			for _, name := range calledTools(body) {
				if g, ok := guards[name]; ok && !slices.Contains(seen, name) {
					seen = append(seen, name)
					h = g(h) // every scoped tool of a batch, each checked
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// calledTools returns the names of the tools that the JSON-RPC message or
// batch body calls ("method": "tools/call", "params": {"name": …}). Member
// names match exactly (the SDK's decoder is case-sensitive, encoding/json's
// struct matching is not, so maps are used); the last of duplicate members
// counts, as in both.
func calledTools(body []byte) []string {
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		batch = []json.RawMessage{body}
	}
	var names []string
	for _, m := range batch {
		var msg map[string]json.RawMessage
		var method string
		if json.Unmarshal(m, &msg) != nil || json.Unmarshal(msg["method"], &method) != nil || method != "tools/call" {
			continue
		}
		var params map[string]json.RawMessage
		var name string
		if json.Unmarshal(msg["params"], &params) == nil && json.Unmarshal(params["name"], &name) == nil {
			names = append(names, name)
		}
	}
	return names
}
