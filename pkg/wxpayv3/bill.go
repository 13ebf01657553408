package wxpayv3

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// Conditions of a bill download. API v2 serves the same file, so the first
// three are package wxpay's, and either name matches.
var (
	// ErrNoBill is WeChat Pay's signed word that a day has no bill
	// (NO_STATEMENT_EXIST): the merchant had no transaction that day.
	ErrNoBill = wxpay.ErrNoBill
	// ErrBillNotReady is a bill still being made (STATEMENT_CREATING).
	ErrBillNotReady = wxpay.ErrBillNotReady
	// ErrMalformedBill is a file that is not gzip, or is corrupt or cut short.
	ErrMalformedBill = wxpay.ErrMalformedBill
	// ErrBillHash is a bill whose SHA1 is not the hash_value of the signed
	// answer that named it: the bill is refused.
	ErrBillHash = errors.New("wxpayv3: the bill does not match its signed hash")
)

// DownloadBill asks for the trade bill (type ALL, gzip) of the China
// calendar day of day, then downloads it at once from the download_url of
// the verified answer, with a signed request, and hands read the
// decompressed bill as it arrives: UTF-8 text, never held whole. The file
// itself is unsigned; the answer's hash_value vouches for it.
//
// The SHA1 of the decompressed bill is checked at the end of the stream:
// the read that reaches the end fails with ErrBillHash in place of io.EOF
// when it does not match, so a read function that met io.EOF read the
// bill WeChat Pay signed for. Whatever read returns is returned as it is;
// when read returns nil before the end, the rest is read and checked too,
// so nil means the whole bill arrived and matched. Other failures of the
// stream are those of wxpay.Client.DownloadBill: ErrMalformedBill,
// ErrTransport, outbound.ErrTooLarge (past MaxBillSize decompressed, or
// HTTP.MaxDownloadSize as sent).
//
// A signed NO_STATEMENT_EXIST matches ErrNoBill; STATEMENT_CREATING
// matches ErrBillNotReady. Either is also an *Error.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012556654 (the bill's address)
// https://pay.weixin.qq.com/doc/v3/merchant/4012810615 (the download)
func (c *Client) DownloadBill(ctx context.Context, day time.Time, read func(io.Reader) error) error {
	var answer struct {
		HashType    string `json:"hash_type"`
		HashValue   string `json:"hash_value"`
		DownloadURL string `json:"download_url"`
	}
	var sum []byte
	var origin, pathQuery string
	path := "/v3/bill/tradebill?bill_date=" + day.In(trade.ChinaTime).Format("2006-01-02") + "&bill_type=ALL&tar_type=GZIP"
	err := c.do(ctx, http.MethodGet, path, nil, &answer, func() (err error) {
		if answer.HashType != "SHA1" {
			return fmt.Errorf("%w: hash_type %q", ErrMalformed, answer.HashType)
		}
		if sum, err = hex.DecodeString(answer.HashValue); err != nil || len(sum) != sha1.Size {
			return fmt.Errorf("%w: hash_value is not a SHA1", ErrMalformed)
		}
		origin, pathQuery, err = c.billURL(answer.DownloadURL)
		return err
	})
	var refusal *Error
	switch {
	// A refusal that only delays is believed unsigned; one that ends the
	// matter for the day must be WeChat's signed word.
	case errors.As(err, &refusal) && refusal.Code == "NO_STATEMENT_EXIST" && refusal.Signed:
		return fmt.Errorf("%w: %w", ErrNoBill, err)
	case errors.As(err, &refusal) && refusal.Code == "STATEMENT_CREATING":
		return fmt.Errorf("%w: %w", ErrBillNotReady, err)
	case err != nil:
		return err
	}
	h := c.http()
	h.BaseURL, h.FailoverURL = origin, ""
	req := c.request(http.MethodGet, pathQuery, nil)
	req.Header.Del("Accept") // a file, not JSON: the API's Accept rule does not apply
	req.Check = func(r *outbound.Response) error {
		if r.StatusCode/100 != 2 {
			return c.refusal(ctx, r)
		}
		return nil
	}
	req.Retryable = retryable
	return h.Download(ctx, req, func(_ *outbound.Response, body io.Reader) error {
		bill, err := wxpay.OpenBill(body, c.MaxBillSize)
		if err != nil {
			return err
		}
		return wxpay.ReadBill(&hashed{r: bill, h: sha1.New(), want: sum}, read)
	})
}

// billURL checks a download_url and splits it into the origin to send to
// and the path and query to sign. The request to it carries the merchant's
// signature, so it must go to WeChat Pay's API hosts or to a base URL this
// client was given (a simulator, in tests), and be in the canonical form
// that the request will carry, so that what is signed is what is sent.
func (c *Client) billURL(raw string) (origin, pathQuery string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("%w: download_url is not an absolute URL", ErrMalformed)
	}
	origin, pathQuery = u.Scheme+"://"+u.Host, u.RequestURI()
	allowed := []string{DefaultBaseURL, BackupBaseURL, originOf(c.HTTP.BaseURL), originOf(c.HTTP.FailoverURL)}
	switch {
	case !slices.Contains(allowed, origin):
		return "", "", fmt.Errorf("%w: download_url is on %s, not WeChat Pay's API host", ErrMalformed, u.Host)
	case origin+pathQuery != raw:
		return "", "", fmt.Errorf("%w: download_url is not in canonical form", ErrMalformed)
	}
	return origin, pathQuery, nil
}

// originOf is the scheme and host of a configured base URL, or "".
func originOf(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// hashed checks a bill against its signed SHA1 where the stream ends.
type hashed struct {
	r    io.Reader
	h    hash.Hash
	want []byte
	err  error // sticky
}

func (b *hashed) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(b.h.Sum(nil), b.want) {
		err = ErrBillHash
	}
	b.err = err
	return n, err
}
