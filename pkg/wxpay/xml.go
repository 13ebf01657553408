package wxpay

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxBodySize bounds every v2 document this package reads or accepts.
const MaxBodySize = 1 << 20

// EncodeXML writes p as a flat <xml> document, fields sorted by name, every
// value escaped. Field names must be ASCII letters, digits and '_'; values
// must be valid UTF-8 made of characters XML can carry.
func EncodeXML(p Params) ([]byte, error) {
	var fb [32]field
	return encodeFields(sortedFields(fb[:0], p))
}

// EncodeSigned signs p (which must not hold "sign") with key and t and
// writes it with its sign as a flat <xml> document: what WeChat Pay sends
// and expects. Tests use it to build correctly signed answers and
// notifications.
func EncodeSigned(p Params, key string, t SignType) ([]byte, error) {
	if _, ok := p["sign"]; ok {
		return nil, fmt.Errorf("%w: sign is computed, not given", ErrInvalidField)
	}
	var fb [32]field
	return encodeSigned(sortedFields(fb[:0], p), key, t)
}

// encodeSigned signs fields sorted by name and encodes them with the sign
// inserted in its place.
func encodeSigned(fs []field, key string, t SignType) ([]byte, error) {
	sign, err := signFields(fs, key, t)
	if err != nil {
		return nil, err
	}
	at, _ := slices.BinarySearchFunc(fs, "sign", func(f field, k string) int { return strings.Compare(f.k, k) })
	return encodeFields(slices.Insert(fs, at, field{"sign", sign}))
}

func encodeFields(fs []field) ([]byte, error) {
	size := len("<xml></xml>")
	for _, f := range fs {
		size += 2*len(f.k) + len(f.v) + len("<></>") + 8
	}
	out := make([]byte, 0, size)
	out = append(out, "<xml>"...)
	for _, f := range fs {
		if !isFieldName(f.k) {
			return nil, fmt.Errorf("%w: name %q", ErrInvalidField, f.k)
		}
		out = append(out, '<')
		out = append(out, f.k...)
		out = append(out, '>')
		var ok bool
		if out, ok = appendEscaped(out, f.v); !ok {
			return nil, fmt.Errorf("%w: %s holds a character XML cannot carry", ErrInvalidField, f.k)
		}
		out = append(out, "</"...)
		out = append(out, f.k...)
		out = append(out, '>')
	}
	return append(out, "</xml>"...), nil
}

func isFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// appendEscaped escapes the three markup characters and CR (which a decoder
// would otherwise normalise away); it reports false for characters XML 1.0
// cannot represent at all.
func appendEscaped(b []byte, v string) ([]byte, bool) {
	run := 0 // start of the run of bytes that need no escaping
	for i := 0; i < len(v); {
		c := v[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
				return b, false
			}
			i += n
			continue
		}
		var esc string
		switch {
		case c >= 0x20 && c != '&' && c != '<' && c != '>', c == '\t', c == '\n':
			i++
			continue
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '\r':
			esc = "&#xD;"
		default:
			return b, false
		}
		b = append(b, v[run:i]...)
		b = append(b, esc...)
		i++
		run = i
	}
	return append(b, v[run:]...), true
}

// isXMLChar reports whether r is a Char of XML 1.0.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// DecodeXML parses a flat v2 document: an optional XML declaration, one <xml>
// root, and inside it elements holding only text, CDATA sections, the five
// predefined entities and numeric character references. Anything else (a
// DTD, comments, processing instructions, attributes, nesting, duplicate
// fields, text beside the fields, more than MaxBodySize bytes) is refused.
func DecodeXML(data []byte) (Params, error) {
	return decodeFlat(data, "xml")
}

// decodeFlat is DecodeXML with another root element name.
func decodeFlat(data []byte, root string) (Params, error) {
	if len(data) > MaxBodySize {
		return nil, ErrTooLarge
	}
	x := scanner{s: string(data)}
	return x.document(root)
}

type scanner struct {
	s string
	i int
}

func (x *scanner) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformedXML, what, x.i)
}

func (x *scanner) rest() string { return x.s[x.i:] }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// space skips XML white space and reports whether there was any.
func (x *scanner) space() bool {
	start := x.i
	for x.i < len(x.s) && isSpace(x.s[x.i]) {
		x.i++
	}
	return x.i > start
}

func (x *scanner) document(root string) (Params, error) {
	if strings.HasPrefix(x.s, "<?xml") {
		if err := x.declaration(); err != nil {
			return nil, err
		}
	}
	x.space()
	if !strings.HasPrefix(x.rest(), "<") {
		return nil, x.fail("expected the root element")
	}
	x.i++
	if name := x.name(); name != root {
		return nil, x.fail("root element is not <" + root + ">")
	}
	x.space()
	if !strings.HasPrefix(x.rest(), ">") {
		return nil, x.fail("attributes or an empty root")
	}
	x.i++
	p := make(Params, 12)
	for {
		x.space()
		r := x.rest()
		switch {
		case strings.HasPrefix(r, "</"):
			x.i += 2
			if err := x.endTag(root); err != nil {
				return nil, err
			}
			x.space()
			if x.i != len(x.s) {
				return nil, x.fail("content after the root element")
			}
			return p, nil
		case strings.HasPrefix(r, "<!"), strings.HasPrefix(r, "<?"):
			return nil, x.fail("markup declaration, comment or processing instruction")
		case strings.HasPrefix(r, "<"):
			x.i++
			name := x.name()
			if name == "" {
				return nil, x.fail("bad element name")
			}
			if _, dup := p[name]; dup {
				return nil, x.fail("duplicate field " + name)
			}
			value, err := x.element(name)
			if err != nil {
				return nil, err
			}
			p[name] = value
		case r == "":
			return nil, x.fail("unexpected end")
		default:
			return nil, x.fail("text outside a field")
		}
	}
}

// declaration accepts only: <?xml version="1.0" [encoding="UTF-8"] [standalone="yes|no"] ?>
func (x *scanner) declaration() error {
	x.i += len("<?xml")
	if !x.space() {
		return x.fail("processing instruction")
	}
	v, err := x.pseudoAttr("version")
	if err != nil || v != "1.0" {
		return x.fail("XML declaration needs version 1.0")
	}
	for _, name := range []string{"encoding", "standalone"} {
		save := x.i
		if !x.space() || !strings.HasPrefix(x.rest(), name) {
			x.i = save
			continue
		}
		v, err := x.pseudoAttr(name)
		if err != nil ||
			name == "encoding" && !strings.EqualFold(v, "utf-8") ||
			name == "standalone" && v != "yes" && v != "no" {
			return x.fail("unsupported XML declaration " + name)
		}
	}
	x.space()
	if !strings.HasPrefix(x.rest(), "?>") {
		return x.fail("bad XML declaration")
	}
	x.i += 2
	return nil
}

func (x *scanner) pseudoAttr(name string) (string, error) {
	if !strings.HasPrefix(x.rest(), name) {
		return "", x.fail("expected " + name)
	}
	x.i += len(name)
	x.space()
	if !strings.HasPrefix(x.rest(), "=") {
		return "", x.fail("expected =")
	}
	x.i++
	x.space()
	r := x.rest()
	if r == "" || r[0] != '"' && r[0] != '\'' {
		return "", x.fail("expected a quoted value")
	}
	end := strings.IndexByte(r[1:], r[0])
	if end < 0 {
		return "", x.fail("unterminated value")
	}
	x.i += end + 2
	return r[1 : end+1], nil
}

// name reads an element name: an ASCII letter or '_', then letters, digits,
// '_', '-' and '.'.
func (x *scanner) name() string {
	start := x.i
	for x.i < len(x.s) {
		c := x.s[x.i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' ||
			x.i > start && ('0' <= c && c <= '9' || c == '-' || c == '.') {
			x.i++
			continue
		}
		break
	}
	return x.s[start:x.i]
}

func (x *scanner) endTag(name string) error {
	if x.name() != name {
		return x.fail("element <" + name + "> closed by another name")
	}
	x.space()
	if !strings.HasPrefix(x.rest(), ">") {
		return x.fail("bad end tag")
	}
	x.i++
	return nil
}

// element reads the rest of a field after its name: "/>" or ">" content "</name>".
func (x *scanner) element(name string) (string, error) {
	x.space()
	r := x.rest()
	switch {
	case strings.HasPrefix(r, "/>"):
		x.i += 2
		return "", nil
	case strings.HasPrefix(r, ">"):
		x.i++
	default:
		return "", x.fail("attributes are not allowed")
	}
	v, err := x.text()
	if err != nil {
		return "", err
	}
	x.i += 2 // "</"
	return v, x.endTag(name)
}

// text reads character data up to the next "</". Plain runs are sliced from
// the input; entities, CDATA and CR make a copy.
func (x *scanner) text() (string, error) {
	start := x.i
	var buf []byte
	copied := false
	for {
		// The common case: printable ASCII that needs nothing.
		if !copied {
			for x.i < len(x.s) {
				c := x.s[x.i]
				if c < 0x20 || c >= utf8.RuneSelf || c == '<' || c == '&' || c == ']' {
					break
				}
				x.i++
			}
		}
		if x.i >= len(x.s) {
			return "", x.fail("unexpected end inside a field")
		}
		c := x.s[x.i]
		if c == '<' || c == '&' || c == '\r' || c == ']' {
			r := x.rest()
			if x.i == start && strings.HasPrefix(r, "<![CDATA[") {
				if v, ok := x.soleCDATA(); ok {
					return v, nil
				}
			}
			if strings.HasPrefix(r, "</") {
				if !copied {
					return x.s[start:x.i], nil
				}
				return string(buf), nil
			}
			if c == ']' && !strings.HasPrefix(r, "]]>") {
				if copied {
					buf = append(buf, c)
				}
				x.i++
				continue
			}
			if !copied {
				buf = append(make([]byte, 0, x.i-start+32), x.s[start:x.i]...)
				copied = true
			}
			var err error
			switch {
			case c == '\r':
				x.i++
				if !strings.HasPrefix(x.rest(), "\n") {
					buf = append(buf, '\n')
				}
			case strings.HasPrefix(r, "<![CDATA["):
				buf, err = x.cdata(buf)
			case c == '&':
				buf, err = x.reference(buf)
			case c == ']':
				err = x.fail("]]> in text")
			default:
				err = x.fail("nested element or markup inside a field")
			}
			if err != nil {
				return "", err
			}
			continue
		}
		n := 1
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return "", x.fail("control character")
			}
		} else {
			var r rune
			r, n = utf8.DecodeRuneInString(x.s[x.i:])
			if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
				return "", x.fail("invalid character")
			}
		}
		if copied {
			buf = append(buf, x.s[x.i:x.i+n]...)
		}
		x.i += n
	}
}

// soleCDATA slices a CDATA section that is a field's whole content and
// needs no normalisation, the shape of every WeChat Pay answer, without a
// copy. It leaves the scanner unmoved when that is not the case.
func (x *scanner) soleCDATA() (string, bool) {
	start := x.i + len("<![CDATA[")
	end := strings.Index(x.s[start:], "]]>")
	if end < 0 || !strings.HasPrefix(x.s[start+end+len("]]>"):], "</") {
		return "", false
	}
	data := x.s[start : start+end]
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return "", false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(data[i:])
		if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
			return "", false
		}
		i += n
	}
	x.i = start + end + len("]]>")
	return data, true
}

func (x *scanner) cdata(buf []byte) ([]byte, error) {
	x.i += len("<![CDATA[")
	end := strings.Index(x.rest(), "]]>")
	if end < 0 {
		return buf, x.fail("unterminated CDATA")
	}
	data := x.s[x.i : x.i+end]
	for i := 0; i < len(data); {
		c := data[i]
		if c == '\r' {
			if !strings.HasPrefix(data[i+1:], "\n") {
				buf = append(buf, '\n')
			}
			i++
			continue
		}
		n := 1
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return buf, x.fail("control character in CDATA")
			}
		} else {
			var r rune
			r, n = utf8.DecodeRuneInString(data[i:])
			if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
				return buf, x.fail("invalid character in CDATA")
			}
		}
		buf = append(buf, data[i:i+n]...)
		i += n
	}
	x.i += end + len("]]>")
	return buf, nil
}

// reference decodes &lt; &gt; &amp; &apos; &quot; &#N; and &#xH;.
func (x *scanner) reference(buf []byte) ([]byte, error) {
	r := x.rest()
	semi := strings.IndexByte(r, ';')
	if semi < 2 || semi > 10 {
		return buf, x.fail("bad character reference")
	}
	ref := r[1:semi]
	x.i += semi + 1
	switch ref {
	case "lt":
		return append(buf, '<'), nil
	case "gt":
		return append(buf, '>'), nil
	case "amp":
		return append(buf, '&'), nil
	case "apos":
		return append(buf, '\''), nil
	case "quot":
		return append(buf, '"'), nil
	}
	if ref[0] != '#' || len(ref) < 2 {
		return buf, x.fail("unknown entity")
	}
	digits, base := ref[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if digits == "" {
		return buf, x.fail("bad character reference")
	}
	var n rune
	for i := 0; i < len(digits); i++ {
		d := rune(digits[i])
		switch {
		case '0' <= d && d <= '9':
			d -= '0'
		case base == 16 && 'a' <= d && d <= 'f':
			d -= 'a' - 10
		case base == 16 && 'A' <= d && d <= 'F':
			d -= 'A' - 10
		default:
			return buf, x.fail("bad character reference")
		}
		n = n*base + d
		if n > utf8.MaxRune {
			return buf, x.fail("character reference out of range")
		}
	}
	if !isXMLChar(n) {
		return buf, x.fail("character reference to a character XML cannot carry")
	}
	return utf8.AppendRune(buf, n), nil
}
