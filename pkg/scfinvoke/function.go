package scfinvoke

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidFunction is a target that SCF's naming rules refuse; the
// wrapping error says which part is wrong and why.
var ErrInvalidFunction = errors.New("scfinvoke: invalid function")

// Latest is the qualifier of a function's unpublished code, SCF's default.
const Latest = "$LATEST"

// Function names the SCF function that receives the events.
type Function struct {
	Namespace string // "" is SCF's "default" namespace
	Name      string
	Qualifier string // a version number or an alias; "" is Latest
}

// ParseFunction reads a target written as name, namespace/name,
// name:qualifier or namespace/name:qualifier (the form of
// WXPAY_EVENTS_FUNCTION), checking each part against SCF's naming rules so
// that a typo shows at configuration rather than as a refused delivery.
//
// Rules (CreateFunction, CreateAlias): https://cloud.tencent.com/document/api/583/18586
func ParseFunction(s string) (Function, error) {
	var f Function
	rest, qualifier, hasQualifier := strings.Cut(s, ":")
	if hasQualifier {
		if qualifier == "" {
			return Function{}, fmt.Errorf("%w %q: empty qualifier after ':'", ErrInvalidFunction, s)
		}
		f.Qualifier = qualifier
	}
	if ns, name, ok := strings.Cut(rest, "/"); ok {
		if ns == "" {
			return Function{}, fmt.Errorf("%w %q: empty namespace before '/'", ErrInvalidFunction, s)
		}
		f.Namespace, rest = ns, name
	}
	f.Name = rest
	if err := f.check(); err != nil {
		return Function{}, fmt.Errorf("%w %q: %s", ErrInvalidFunction, s, err)
	}
	return f, nil
}

// String writes f in the form ParseFunction reads.
func (f Function) String() string {
	s := f.Name
	if f.Namespace != "" {
		s = f.Namespace + "/" + s
	}
	if f.Qualifier != "" {
		s += ":" + f.Qualifier
	}
	return s
}

// check applies the naming rules to each part of f.
func (f Function) check() error {
	if f.Name == "" {
		return errors.New("no function name")
	}
	if err := checkName(f.Name, 2, 60); err != nil {
		return fmt.Errorf("name %q %w", f.Name, err)
	}
	// SCF publishes no rule for namespace names; the console creates them
	// in the shape of function names, and "default" fits it.
	if f.Namespace != "" {
		if err := checkName(f.Namespace, 1, 60); err != nil {
			return fmt.Errorf("namespace %q %w", f.Namespace, err)
		}
	}
	if err := checkQualifier(f.Qualifier); err != nil {
		return fmt.Errorf("qualifier %q %w", f.Qualifier, err)
	}
	return nil
}

// checkName applies the function-name rule: min to max letters, digits,
// '-' and '_', starting with a letter and ending with a letter or digit.
func checkName(s string, min, max int) error {
	switch {
	case len(s) < min || len(s) > max:
		return fmt.Errorf("must be %d to %d characters", min, max)
	case !isLetter(s[0]):
		return errors.New("must start with a letter")
	case s[len(s)-1] == '-' || s[len(s)-1] == '_':
		return errors.New("must not end with '-' or '_'")
	}
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) && !isDigit(s[i]) && s[i] != '-' && s[i] != '_' {
			return fmt.Errorf("may hold only letters, digits, '-' and '_', not %q", s[i])
		}
	}
	return nil
}

// checkQualifier accepts "" (Latest), Latest, a version number, or an alias
// name (1 to 64 letters, digits, '-' and '_', starting with a letter).
func checkQualifier(q string) error {
	if q == "" || q == Latest {
		return nil
	}
	if isDigit(q[0]) {
		if q[0] == '0' || len(q) > 10 {
			return errors.New("is not a version number")
		}
		for i := 0; i < len(q); i++ {
			if !isDigit(q[i]) {
				return errors.New("is neither a version number nor an alias")
			}
		}
		return nil
	}
	if len(q) > 64 {
		return errors.New("must be at most 64 characters")
	}
	if !isLetter(q[0]) {
		return fmt.Errorf("must be %s, a version number or an alias starting with a letter", Latest)
	}
	for i := 0; i < len(q); i++ {
		if !isLetter(q[i]) && !isDigit(q[i]) && q[i] != '-' && q[i] != '_' {
			return fmt.Errorf("may hold only letters, digits, '-' and '_', not %q", q[i])
		}
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
