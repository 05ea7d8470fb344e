package authkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// This file describes the OAuth protected resource a JWT guards: its
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

// maxResourceLen bounds a resource URL and name, in bytes.
const maxResourceLen = 1024

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
	if !validClaimString(r.URL, maxResourceLen) || (r.Name != "" && !validClaimString(r.Name, maxResourceLen)) {
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

// metadata is the RFC 9728 §2 document of the resource, whose
// authorization servers are servers (the issuers the JWT accepts). dpopAlgs
// are the DPoP proof algorithms accepted (none: no issuer accepts DPoP), and
// dpopOnly says that every issuer requires DPoP-bound tokens.
func (rc *resourceConfig) metadata(servers, dpopAlgs []string, dpopOnly bool) []byte {
	doc := struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers,omitempty"`
		ScopesSupported      []string `json:"scopes_supported,omitempty"`
		BearerMethods        []string `json:"bearer_methods_supported"`
		ResourceName         string   `json:"resource_name,omitempty"`
		DPoPAlgs             []string `json:"dpop_signing_alg_values_supported,omitempty"`
		DPoPRequired         *bool    `json:"dpop_bound_access_tokens_required,omitempty"`
	}{Resource: rc.URL, AuthorizationServers: servers, ScopesSupported: rc.Scopes, BearerMethods: []string{"header"}, ResourceName: rc.Name}
	if len(dpopAlgs) > 0 {
		doc.DPoPAlgs, doc.DPoPRequired = dpopAlgs, &dpopOnly
	}
	b, err := json.Marshal(doc)
	if err != nil { // strings, slices of strings and a bool only
		panic("authkit: resource metadata: " + err.Error())
	}
	return append(b, '\n')
}
