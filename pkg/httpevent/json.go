package httpevent

import "errors"

// MaxDepth bounds how deeply a JSON document the function reads may nest.
// The JSON libraries recurse once per level, so without a bound one 1 MiB
// body of "[" takes hundreds of megabytes of stack in a function that has
// 64 MB; no event or request the function serves nests more than a few
// levels.
const MaxDepth = 32

// ErrTooDeep is JSON nested more than MaxDepth levels.
var ErrTooDeep = errors.New("httpevent: JSON nested too deeply")

// CheckDepth returns ErrTooDeep when b, read as JSON, opens more than
// MaxDepth arrays and objects at once. It does not recurse and does not
// otherwise validate b, so it is safe to run before any JSON parser.
func CheckDepth(b []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > MaxDepth {
				return ErrTooDeep
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}
