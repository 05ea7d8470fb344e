package authkit

import (
	"errors"
	"fmt"
	"maps"
	"strings"
)

// tenantPlaceholder stands for the tenant in a multi-tenant issuer URL.
const tenantPlaceholder = "{tenant}"

// tenantIssuer is one issuer a TrustedIssuer stands for, and its tenant
// ("" for a single-tenant issuer).
type tenantIssuer struct{ issuer, tenant string }

// tenantIssuers returns the issuers a TrustedIssuer stands for: issuer
// itself, or, for a multi-tenant issuer, issuer with the placeholder
// replaced by each of tenants. Each tenant is then an issuer of its own, discovered from its
// own document (whose "issuer" must equal the tenant's URL exactly), with its
// own keys: a tenant outside the list has no verifier at all.
func tenantIssuers(issuer string, tenants []string) ([]tenantIssuer, error) {
	n := strings.Count(issuer, tenantPlaceholder)
	switch {
	case n == 0 && len(tenants) == 0:
		return []tenantIssuer{{issuer: issuer}}, nil
	case n == 0:
		return nil, fmt.Errorf("Tenants given, but the issuer has no %s", tenantPlaceholder)
	case n > 1:
		return nil, fmt.Errorf("the issuer has %s more than once", tenantPlaceholder)
	case len(tenants) == 0:
		return nil, fmt.Errorf("the issuer has %s but no Tenants are allowed", tenantPlaceholder)
	}
	var errs []error
	out := make([]tenantIssuer, 0, len(tenants))
	for i, tenant := range tenants {
		if err := checkTenant(tenant); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, prev := range tenants[:i] {
			if strings.EqualFold(prev, tenant) {
				errs = append(errs, fmt.Errorf("tenant %q given twice", tenant))
			}
		}
		out = append(out, tenantIssuer{strings.Replace(issuer, tenantPlaceholder, tenant, 1), tenant})
	}
	return out, errors.Join(errs...)
}

// checkTenant refuses what cannot stand for one tenant in a URL path: an
// empty string, anything beyond RFC 3986's unreserved characters, and
// Entra's "common", "organizations" and "consumers", which name sets of
// tenants (their documents' issuer is a template no token carries).
func checkTenant(tenant string) error {
	switch strings.ToLower(tenant) {
	case "", "common", "organizations", "consumers", ".", "..":
		return fmt.Errorf("tenant %q: not one tenant", tenant)
	}
	for _, c := range []byte(tenant) {
		if !b64url[c] && c != '.' && c != '~' {
			return fmt.Errorf("tenant %q: only letters, digits and -._~", tenant)
		}
	}
	return nil
}

// forTenant returns the rules for the tokens of one tenant: where the
// profile names the claim that carries the tenant (Entra's "tid"), that
// claim must be tenant, besides the issuer.
func (r *profileRules) forTenant(tenant string) *profileRules {
	if r == nil || r.tenantClaim == "" || tenant == "" {
		return r
	}
	cp := *r
	cp.requireValue = maps.Clone(r.requireValue)
	if cp.requireValue == nil {
		cp.requireValue = make(map[string]string, 1)
	}
	cp.requireValue[r.tenantClaim] = tenant
	cp.readsClaim = maps.Clone(r.readsClaim)
	cp.readsClaim[r.tenantClaim] = true
	return &cp
}
