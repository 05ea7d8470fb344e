package authkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// This file makes a JWT's server an OAuth protected resource: its
// identifier, the audience bound to it (RFC 8707), and its metadata
// (RFC 9728), which the 401 challenges point at.

// Resource describes the server that a [JWT] protects as an OAuth 2.0
// protected resource (RFC 9728); see [WithResource].
type Resource struct {
	// URL is the resource identifier, exactly as clients name the resource
	// (an MCP server: its endpoint URL, e.g. "https://mcp.example.com/mcp"):
	// an absolute http or https URL (https outside development, RFC 9728 §2)
	// with no user info, query or fragment. It is published as given.
	URL string
	// Scopes lists the scopes clients may request for it
	// (scopes_supported). Optional.
	Scopes []string
	// Name is a human-readable name for it (resource_name). Optional.
	Name string
}

// WithResource makes [NewJWT]'s tokens those of the resource r:
//
//   - Audience: where no audience is configured ([WithAudience] or
//     [WithTokensFrom] for [WithIssuer], [TrustedIssuer.Audiences] for a
//     trusted issuer), a token must name r.URL in its audience (RFC 8707,
//     RFC 9068 §4): the tokens issued for this resource and no other. The
//     comparison is on the canonical form (RFC 3986 §6.2.2–6.2.3: scheme
//     and host case, default port, empty path as "/", percent-encoding), so
//     "HTTPS://MCP.example.com:443/mcp" names "https://mcp.example.com/mcp";
//     a trailing slash after a path is significant. Configured audiences
//     replace this default and are compared exactly.
//   - Metadata: [JWT.ResourceMetadataHandler] serves r as RFC 9728
//     metadata at [JWT.ResourceMetadataURL], and the 401 and 403 challenges
//     of [Require] and [Optional] with this JWT carry
//     resource_metadata="<that URL>" (RFC 9728 §5.1), so that clients find
//     the authorization servers.
//
// Default: no resource; the audiences must be configured.
func WithResource(r Resource) Option {
	return singleOption("WithResource", fmt.Sprintf("%q", r.URL), forJWT, func(c *jwtConfig) error {
		rc, err := newResourceConfig(r)
		if err != nil {
			return fmt.Errorf("WithResource(%q): %w", r.URL, err)
		}
		c.resource = rc
		return nil
	})
}

// resourceConfig is a checked WithResource.
type resourceConfig struct {
	Resource
	canonical   string // canonicalResource(URL)
	metadataURL string // RFC 9728 §3.1
	pattern     string // the ServeMux pattern of metadataURL
}

func newResourceConfig(r Resource) (*resourceConfig, error) {
	u, err := url.Parse(r.URL)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("not an http or https URL")
	case u.Host == "" || u.User != nil:
		return nil, errors.New("need an absolute URL with a host and no user info")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(r.URL, "#"):
		return nil, errors.New("a resource has no query or fragment (RFC 8707 §2)")
	}
	for _, s := range r.Scopes {
		if !validScope(s) {
			return nil, fmt.Errorf("scope %q: not an RFC 6749 scope-token", s)
		}
	}
	if !validClaimString(r.URL, maxClaimLen) || (r.Name != "" && !validClaimString(r.Name, maxClaimLen)) {
		return nil, errors.New("the URL or name is too long or not UTF-8")
	}
	canonical, _ := canonicalResource(r.URL)
	// RFC 9728 §3.1: the well-known path goes between the host and the
	// resource's path; a resource at the root has none after it.
	path := "/.well-known/oauth-protected-resource"
	if p := u.EscapedPath(); p != "" && p != "/" {
		path += p
	}
	pattern := "GET " + path
	if strings.HasSuffix(path, "/") {
		pattern += "{$}" // the path itself, not the subtree
	}
	mu := url.URL{Scheme: u.Scheme, Host: u.Host}
	rc := &resourceConfig{Resource: r, canonical: canonical, metadataURL: mu.String() + path, pattern: pattern}
	rc.Scopes = slices.Clone(r.Scopes)
	return rc, nil
}

// canonicalResource returns the normal form of an absolute http(s) URL for
// comparison (RFC 3986 §6.2.2 syntax-based, §6.2.3 scheme-based): scheme and
// host in lower case, the default port dropped, an empty path as "/",
// percent-encoded unreserved characters decoded and the other
// percent-encodings in upper case. ok is false for anything else, which
// names no resource.
func canonicalResource(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	switch {
	case scheme == "https":
		host = strings.TrimSuffix(strings.TrimSuffix(host, ":443"), ":")
	case scheme == "http":
		host = strings.TrimSuffix(strings.TrimSuffix(host, ":80"), ":")
	default:
		return "", false
	}
	path := normalizePercent(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	s := scheme + "://" + host + path
	if u.ForceQuery || u.RawQuery != "" {
		s += "?" + normalizePercent(u.RawQuery)
	}
	return s, true
}

// normalizePercent decodes the percent-encoded unreserved characters of s
// and upper-cases the hex digits of the others (RFC 3986 §6.2.2.1-2).
func normalizePercent(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+2 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			b.WriteByte(s[i])
			continue
		}
		if c := byte(hi<<4 | lo); unreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(s[i : i+3]))
		}
		i += 2
	}
	return b.String()
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// unreserved reports whether c is an RFC 3986 §2.3 unreserved character.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// metadata is the RFC 9728 §2 document of the resource, whose
// authorization servers are servers (the issuers the JWT accepts).
func (rc *resourceConfig) metadata(servers []string) []byte {
	doc := struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers,omitempty"`
		ScopesSupported      []string `json:"scopes_supported,omitempty"`
		BearerMethods        []string `json:"bearer_methods_supported"`
		ResourceName         string   `json:"resource_name,omitempty"`
	}{rc.URL, servers, rc.Scopes, []string{"header"}, rc.Name}
	b, err := json.Marshal(doc)
	if err != nil { // strings and slices of strings only
		panic("authkit: resource metadata: " + err.Error())
	}
	return append(b, '\n')
}

// ResourceMetadataHandler returns the [net/http.ServeMux] pattern and the
// handler of j's protected resource metadata (RFC 9728), for
// mux.Handle(j.ResourceMetadataHandler()): "GET
// /.well-known/oauth-protected-resource", followed by the resource's path
// when it has one (RFC 9728 §3.1: ".../oauth-protected-resource/mcp" for
// "https://mcp.example.com/mcp"). The document lists the resource
// ([Resource.URL]), its authorization servers (the issuer of [WithIssuer]
// or [WithTokensFrom], then every [WithTrustedIssuer], in order), its scopes
// and name, and bearer_methods_supported ["header"]: a token in a cookie
// ([WithTokenCookie]) is for the application's own pages, not a way for
// OAuth clients to send one. It names no resource_signing_alg_values: the
// kit signs no responses. The answer is JSON, cacheable for an hour and
// readable from any origin (the metadata is public). It panics if j has no
// [WithResource]. The handler is safe for concurrent use.
func (j *JWT[U]) ResourceMetadataHandler() (pattern string, h http.Handler) {
	if j == nil || j.resource == nil {
		panic("authkit: ResourceMetadataHandler needs a JWT built with WithResource")
	}
	body := j.resource.metadata(j.servers)
	return j.resource.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	})
}

// ResourceMetadataURL returns the URL of j's protected resource metadata
// (RFC 9728 §3.1, see [JWT.ResourceMetadataHandler]), which the challenges
// name, or "" if j has no [WithResource].
func (j *JWT[U]) ResourceMetadataURL() string {
	if j == nil || j.resource == nil {
		return ""
	}
	return j.resource.metadataURL
}

// resourceMetadataURL lets the middleware find the URL its challenges name.
func (j *JWT[U]) resourceMetadataURL() string { return j.ResourceMetadataURL() }

// resourcer is implemented by authenticators that protect a resource with
// metadata (a JWT with WithResource, an Any holding one).
type resourcer interface{ resourceMetadataURL() string }

func (as anyOf[U]) resourceMetadataURL() string {
	for _, a := range as {
		if r, ok := a.(resourcer); ok {
			if u := r.resourceMetadataURL(); u != "" {
				return u
			}
		}
	}
	return ""
}

// bindToResource makes the resource the audience of v, an issuer's verifier,
// when none is configured for it.
func (c *jwtConfig) bindToResource(v *verifier) {
	if c.resource != nil && len(v.audiences) == 0 {
		v.audiences, v.resource = []string{c.resource.URL}, c.resource.canonical
	}
}

// servers lists the issuers c accepts, its own first.
func (c *jwtConfig) servers() []string {
	var s []string
	if c.issuer != "" {
		s = append(s, c.issuer)
	}
	for _, t := range c.trusted {
		s = append(s, t.issuer)
	}
	return s
}

// acceptsAudience reports whether aud is one of v's audiences: exactly, or,
// for the audience of WithResource, in canonical form.
func (v *verifier) acceptsAudience(aud string) bool {
	if slices.Contains(v.audiences, aud) {
		return true
	}
	if v.resource == "" {
		return false
	}
	c, ok := canonicalResource(aud)
	return ok && c == v.resource
}
