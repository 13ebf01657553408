package wxpay

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"
)

// referenceDecode is the slow, certainly-right decoder the scanner must agree
// with: encoding/xml's tokens, held to the same flat shape.
func referenceDecode(data []byte, root string) (Params, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	p := Params{}
	depth, first, done := 0, true, false
	var field string
	var text strings.Builder
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			if !done {
				return nil, errors.New("no root")
			}
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		isFirst := first
		first = false
		switch t := tok.(type) {
		case xml.ProcInst:
			if !isFirst || t.Target != "xml" {
				return nil, errors.New("processing instruction")
			}
		case xml.StartElement:
			if done || len(t.Attr) > 0 || t.Name.Space != "" {
				return nil, errors.New("unexpected element")
			}
			switch depth {
			case 0:
				if t.Name.Local != root {
					return nil, errors.New("wrong root")
				}
			case 1:
				if _, dup := p[t.Name.Local]; dup {
					return nil, errors.New("duplicate")
				}
				field = t.Name.Local
				text.Reset()
			default:
				return nil, errors.New("nested")
			}
			depth++
		case xml.EndElement:
			if depth == 2 {
				p[field] = text.String()
			}
			depth--
			if depth == 0 {
				done = true
			}
		case xml.CharData:
			if depth == 2 {
				text.Write(t)
			} else if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
				return nil, errors.New("text outside a field")
			}
		default:
			return nil, fmt.Errorf("token %T", tok)
		}
	}
}

var acceptedDocs = []struct {
	name string
	doc  string
	want Params
}{
	{"cdata answer", `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg><prepay_id><![CDATA[wx201410272009395522657a690389285100]]></prepay_id></xml>`,
		Params{"return_code": "SUCCESS", "return_msg": "OK", "prepay_id": "wx201410272009395522657a690389285100"}},
	{"declaration and white space", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n  <a>1</a>\r\n  <b >2</b >\n</xml>\n",
		Params{"a": "1", "b": "2"}},
	{"entities and references", `<xml><body>a&lt;b&gt;c&amp;d&apos;e&quot;f&#20013;&#x6587;&#xD;</body></xml>`,
		Params{"body": "a<b>c&d'e\"f中文\r"}},
	{"mixed text and cdata", `<xml><a>x<![CDATA[<y>&]]>z</a></xml>`, Params{"a": "x<y>&z"}},
	{"utf-8 body", `<xml><body>腾讯充值中心-QQ会员充值</body></xml>`, Params{"body": "腾讯充值中心-QQ会员充值"}},
	{"empty fields", `<xml><a></a><b/><c><![CDATA[]]></c></xml>`, Params{"a": "", "b": "", "c": ""}},
	{"CR normalised", "<xml><a>1\r\n2\r3</a></xml>", Params{"a": "1\n2\n3"}},
	{"lone bracket", `<xml><a>]x]]</a></xml>`, Params{"a": "]x]]"}},
	{"empty root", `<xml></xml>`, Params{}},
}

var refusedDocs = []struct{ name, doc string }{
	{"empty", ``},
	{"not xml", `{"return_code":"SUCCESS"}`},
	{"DTD", `<!DOCTYPE xml [<!ENTITY x "y">]><xml><a>&x;</a></xml>`},
	{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><xml><a>&lol2;</a></xml>`},
	{"external entity", `<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>`},
	{"unknown entity", `<xml><a>&nbsp;</a></xml>`},
	{"nested", `<xml><a><b>1</b></a></xml>`},
	{"duplicate", `<xml><a>1</a><a>2</a></xml>`},
	{"attribute", `<xml><a x="1">1</a></xml>`},
	{"root attribute", `<xml x="1"><a>1</a></xml>`},
	{"wrong root", `<root><a>1</a></root>`},
	{"two roots", `<xml><a>1</a></xml><xml></xml>`},
	{"text after root", `<xml><a>1</a></xml>x`},
	{"text in root", `<xml>x<a>1</a></xml>`},
	{"comment", `<xml><!-- c --><a>1</a></xml>`},
	{"comment in field", `<xml><a>1<!-- c --></a></xml>`},
	{"processing instruction", `<xml><?php echo 1 ?><a>1</a></xml>`},
	{"leading PI", `<?xml-stylesheet href="x"?><xml></xml>`},
	{"declaration not first", ` <?xml version="1.0"?><xml></xml>`},
	{"other encoding", `<?xml version="1.0" encoding="GBK"?><xml></xml>`},
	{"version 1.1", `<?xml version="1.1"?><xml></xml>`},
	{"mismatched end", `<xml><a>1</b></xml>`},
	{"unterminated", `<xml><a>1</a>`},
	{"unterminated field", `<xml><a>1`},
	{"unterminated cdata", `<xml><a><![CDATA[1</a></xml>`},
	{"control character", "<xml><a>\x01</a></xml>"},
	{"NUL reference", `<xml><a>&#0;</a></xml>`},
	{"surrogate reference", `<xml><a>&#xD800;</a></xml>`},
	{"out of range reference", `<xml><a>&#x110000;</a></xml>`},
	{"invalid utf-8", "<xml><a>\xff</a></xml>"},
	{"]]> in text", `<xml><a>]]></a></xml>`},
	{"self-closing root", `<xml/>`},
	{"namespace", `<xml><w:a>1</w:a></xml>`},
}

func TestDecodeXMLAccepts(t *testing.T) {
	for _, c := range acceptedDocs {
		got, err := DecodeXML([]byte(c.doc))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		ref, err := referenceDecode([]byte(c.doc), "xml")
		if err != nil || !maps.Equal(ref, c.want) {
			t.Errorf("%s: encoding/xml reads %q, %v", c.name, ref, err)
		}
	}
}

func TestDecodeXMLRefuses(t *testing.T) {
	for _, c := range refusedDocs {
		if got, err := DecodeXML([]byte(c.doc)); !errors.Is(err, ErrMalformedXML) {
			t.Errorf("%s: got %q, %v; want ErrMalformedXML", c.name, got, err)
		}
	}
	big := "<xml><a>" + strings.Repeat("x", MaxBodySize) + "</a></xml>"
	if _, err := DecodeXML([]byte(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: got %v", err)
	}
}

func TestEncodeXMLRoundTrip(t *testing.T) {
	p := Params{
		"body":   `<script>&"quoted"'s]]>`,
		"attach": "line1\r\nline2\ttab",
		"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		"empty":  "",
		"detail": "腾讯充值中心-QQ会员充值",
	}
	doc, err := EncodeXML(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(doc, []byte("<script>")) || bytes.Contains(doc, []byte("]]>")) {
		t.Fatalf("value was spliced, not escaped: %s", doc)
	}
	back, err := DecodeXML(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(back, p) {
		t.Fatalf("round trip changed the values: %q", back)
	}
	if ref, err := referenceDecode(doc, "xml"); err != nil || !maps.Equal(ref, p) {
		t.Fatalf("encoding/xml reads %q, %v", ref, err)
	}
	if !bytes.HasPrefix(doc, []byte("<xml><attach>")) {
		t.Errorf("fields are not sorted: %s", doc)
	}
}

func TestEncodeXMLRefuses(t *testing.T) {
	for name, p := range map[string]Params{
		"bad name":        {"a b": "1"},
		"markup in name":  {"a><b": "1"},
		"digit first":     {"1a": "1"},
		"NUL value":       {"a": "x\x00"},
		"invalid utf-8":   {"a": "\xff"},
		"non-char U+FFFE": {"a": "\uFFFE"},
	} {
		if _, err := EncodeXML(p); !errors.Is(err, ErrInvalidField) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func FuzzDecodeXML(f *testing.F) {
	for _, c := range acceptedDocs {
		f.Add([]byte(c.doc))
	}
	for _, c := range refusedDocs {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeXML(data)
		if err != nil {
			return
		}
		ref, rerr := referenceDecode(data, "xml")
		if rerr == nil && !maps.Equal(got, ref) {
			t.Fatalf("scanner %q, encoding/xml %q", got, ref)
		}
		// Whatever the scanner accepts must survive its own encoder.
		doc, err := EncodeXML(got)
		if err != nil {
			if errors.Is(err, ErrInvalidField) {
				return // names with '-' or '.' are readable but never written
			}
			t.Fatal(err)
		}
		back, err := DecodeXML(doc)
		if err != nil || !maps.Equal(back, got) {
			t.Fatalf("re-encoded %q reads back as %q, %v", doc, back, err)
		}
	})
}

func TestEncodeSigned(t *testing.T) {
	for _, v := range loadV2Vectors(t) {
		for st, want := range map[SignType]string{SignMD5: v.MD5, SignHMACSHA256: v.HMAC} {
			if want == "" {
				continue
			}
			doc, err := EncodeSigned(Params(v.Params), v.Key, st)
			if err != nil {
				t.Fatal(err)
			}
			p, err := DecodeXML(doc)
			if err != nil || p["sign"] != want || Verify(p, v.Key, st) != nil {
				t.Fatalf("%s %s: %s", v.Source, st, doc)
			}
		}
	}
	if _, err := EncodeSigned(Params{"a": "1", "sign": "X"}, "k", SignMD5); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("a given sign: %v", err)
	}
}
