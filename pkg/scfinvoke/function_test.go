package scfinvoke

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFunction(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Function
	}{
		{"pay-events", Function{Name: "pay-events"}},
		{"shop/pay_events", Function{Namespace: "shop", Name: "pay_events"}},
		{"pay-events:$LATEST", Function{Name: "pay-events", Qualifier: "$LATEST"}},
		{"pay-events:12", Function{Name: "pay-events", Qualifier: "12"}},
		{"default/pay-events:prod", Function{Namespace: "default", Name: "pay-events", Qualifier: "prod"}},
		{"a/Ab", Function{Namespace: "a", Name: "Ab"}},
		{"f" + strings.Repeat("x", 59), Function{Name: "f" + strings.Repeat("x", 59)}},
		{"fn:a" + strings.Repeat("-", 63), Function{Name: "fn", Qualifier: "a" + strings.Repeat("-", 63)}},
	} {
		got, err := ParseFunction(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseFunction(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		if got.String() != c.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), c.in)
		}
	}

	for _, c := range []struct {
		in, why string
	}{
		{"", "no function name"},
		{"a", `name "a" must be 2 to 60 characters`},
		{"f" + strings.Repeat("x", 60), "must be 2 to 60 characters"},
		{"1fn", "must start with a letter"},
		{"fn-", "must not end with '-' or '_'"},
		{"fn_", "must not end with '-' or '_'"},
		{"pay.events", `not '.'`},
		{"pay events", `not ' '`},
		{"/fn", "empty namespace before '/'"},
		{"ns/", "no function name"},
		{"a/b/fn", `name "b/fn" may hold only`},
		{"ns-/fn", `namespace "ns-" must not end`},
		{"9ns/fn", `namespace "9ns" must start with a letter`},
		{"fn:", "empty qualifier after ':'"},
		{"fn:0", `qualifier "0" is not a version number`},
		{"fn:12345678901", "is not a version number"},
		{"fn:1a", "neither a version number nor an alias"},
		{"fn:$latest", "must be $LATEST, a version number or an alias"},
		{"fn:_prod", "must be $LATEST, a version number or an alias"},
		{"fn:pr/od", `not '/'`},
		{"fn:a:b", `not ':'`},
		{"fn:a" + strings.Repeat("x", 64), "at most 64 characters"},
	} {
		_, err := ParseFunction(c.in)
		if !errors.Is(err, ErrInvalidFunction) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseFunction(%q) = %v; want ErrInvalidFunction saying %q", c.in, err, c.why)
		}
	}
}
