package accounts

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Password length bounds, in bytes. bcrypt reads at most 72 bytes, so a
// longer password is refused rather than silently cut.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
)

// MaxNameLen is the longest user name: the local part of an address.
const MaxNameLen = 64

// NormalizeName returns a user name as it is stored: trimmed, lowercased.
func NormalizeName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// CheckName reports why a normalised name (see NormalizeName) cannot be a
// user name, which is also the local part of the user's address.
func CheckName(name string) error {
	if p := checkName(name); p != "" {
		return errors.New(p)
	}
	return nil
}

// checkName returns why a normalised name cannot be a user name, or "".
func checkName(name string) string {
	if name == "" {
		return "name is required"
	}
	if len(name) > MaxNameLen {
		return fmt.Sprintf("name is longer than %d characters", MaxNameLen)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '.' && r != '-' && r != '_' {
			return "name may hold only letters, digits, '.', '-' and '_'"
		}
	}
	if name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return "name may not start or end with '.' nor hold '..'"
	}
	return ""
}

// checkPassword returns why p cannot be a password, or "".
func checkPassword(p string) string {
	switch {
	case len(p) < MinPasswordBytes:
		return fmt.Sprintf("password must have at least %d bytes", MinPasswordBytes)
	case len(p) > MaxPasswordBytes:
		return fmt.Sprintf("password must have at most %d bytes", MaxPasswordBytes)
	}
	return ""
}

// CheckAddress reports whether addr is a bare e-mail address
// (local@domain, no display name, no angle brackets).
func CheckAddress(addr string) error {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr {
		return fmt.Errorf("%q is not a bare e-mail address", addr)
	}
	return nil
}

// checkDomain reports whether d (lowercased) is a domain name: labels of
// letters, digits and '-', separated by dots.
func checkDomain(d string) error {
	if d == "" {
		return errors.New("required")
	}
	if len(d) > 253 {
		return fmt.Errorf("%q is too long", d)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a domain name", d)
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return fmt.Errorf("%q is not a domain name", d)
			}
		}
	}
	return nil
}

// CheckLocalPart reports why local cannot be the local part of a hosted
// address: a user name (CheckName), optionally followed by '+' and a tag
// of the same characters (RFC 5233 subaddressing). User names hold no '+',
// so a tagged address never takes the address of a user created later.
func CheckLocalPart(local string) error {
	if len(local) > MaxNameLen {
		return fmt.Errorf("local part is longer than %d characters", MaxNameLen)
	}
	base, tag, tagged := strings.Cut(local, "+")
	if err := CheckName(base); err != nil {
		return err
	}
	if tagged {
		if p := checkName(tag); p != "" {
			return fmt.Errorf("tag after '+': %s", strings.TrimPrefix(p, "name "))
		}
	}
	return nil
}

// Reserved says whether local (or its part before '+') is a role address
// that only the admin assigns: the mailbox names of RFC 2142 and RFC 5321
// (postmaster), and the usual system and no-reply names.
func Reserved(local string) bool {
	base, _, _ := strings.Cut(local, "+")
	switch base {
	case "postmaster", "abuse", "hostmaster", "webmaster", "www", "security", "noc", "info", "marketing",
		"sales", "support", "usenet", "news", "uucp", "ftp", "admin", "administrator", "root", "sysadmin",
		"mailer-daemon", "daemon", "nobody", "noreply", "no-reply", "do-not-reply", "donotreply", "bounce",
		"bounces", "list", "lists", "listmaster", "majordomo", "system", "caliopen":
		return true
	}
	return false
}

// UserMayClaim reports why a user who is not an admin may not take the
// hosted address with local part local: a user takes their own name, or
// their name followed by '+' and a tag (alice+shop); every other address,
// and every reserved one (Reserved), is the admin's to assign.
func UserMayClaim(userName, local string) error {
	if local == userName || strings.HasPrefix(local, userName+"+") {
		return nil // the admin chose the name
	}
	if Reserved(local) {
		return fmt.Errorf("%s is a reserved address: the admin assigns it", local)
	}
	return fmt.Errorf("you may take %s or %s+ followed by a tag (%s+shop); other addresses are assigned by the admin", userName, userName, userName)
}
