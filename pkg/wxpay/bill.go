package wxpay

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Conditions of a bill download, for errors.Is. API v3 shares them, since
// both APIs serve the same file.
var (
	// ErrNoBill is WeChat Pay's word that a day has no bill (v2 No Bill
	// Exist): the merchant had no transaction that day. It is final.
	ErrNoBill = errors.New("wxpay: WeChat Pay has no bill for that day")
	// ErrBillNotReady is a bill still being made (v2 Bill Creating): WeChat
	// Pay makes a day's bill from 9:00 the next day and advises asking after
	// 10:00, so ask again later.
	ErrBillNotReady = errors.New("wxpay: the bill is not made yet")
	// ErrMalformedBill is an answer that is neither a gzip bill nor a
	// refusal, or a gzip stream that is corrupt or cut short.
	ErrMalformedBill = errors.New("wxpay: the bill cannot be read")
)

// DefaultMaxBillSize bounds a bill once decompressed, so that a small
// download cannot expand into work without end; a day of 100,000
// transactions is about 30 MB.
const DefaultMaxBillSize = 512 << 20

// DownloadBill fetches the trade bill (type ALL) of the China calendar day
// of day, gzip-compressed, and hands read the decompressed bill as it
// arrives: UTF-8 text, never held whole. The bill is unsigned, so nothing
// in it is WeChat Pay's verified word.
//
// Whatever read returns is returned as it is. When read returns nil before
// the end, the rest is read too: gzip checks its checksum and length at the
// end of the stream, so nil means the whole bill arrived intact. The
// reads fail with ErrMalformedBill when the stream is corrupt or cut
// short, with ErrTransport when the network fails, and with
// outbound.ErrTooLarge past MaxBillSize decompressed (or
// HTTP.MaxDownloadSize as sent).
//
// A refusal is an *Error; No Bill Exist also matches ErrNoBill, and Bill
// Creating ErrBillNotReady.
//
// https://pay.weixin.qq.com/doc/v2/merchant/4011987833
func (c *Client) DownloadBill(ctx context.Context, day time.Time, read func(io.Reader) error) error {
	body, err := c.encodeRequest(Params{
		"bill_date": day.In(trade.ChinaTime).Format("20060102"), "bill_type": "ALL", "tar_type": "GZIP",
	})
	if err != nil {
		return err
	}
	h := c.http()
	return h.Download(ctx, &outbound.Request{
		Method: http.MethodPost, Path: "/pay/downloadbill", Body: body, Header: xmlHeader(),
		Check: func(r *outbound.Response) error {
			if r.StatusCode != http.StatusOK {
				return &HTTPError{StatusCode: r.StatusCode}
			}
			return nil
		},
	}, func(_ *outbound.Response, answer io.Reader) error {
		// The answer is the gzip file or an XML refusal, whatever its
		// Content-Type says; gzip's magic number tells them apart.
		br := bufio.NewReader(answer)
		if magic, _ := br.Peek(2); len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
			return refusedBill(br)
		}
		bill, err := OpenBill(br, c.MaxBillSize)
		if err != nil {
			return err
		}
		return ReadBill(bill, read)
	})
}

// refusedBill reads an answer to downloadbill that is not gzip: it must be
// a refusal.
func refusedBill(r io.Reader) error {
	raw, err := outbound.ReadBody(r, -1, MaxBodySize)
	switch {
	case errors.Is(err, outbound.ErrTooLarge):
		return fmt.Errorf("%w: neither gzip nor a refusal", ErrMalformedBill)
	case err != nil:
		return err
	}
	answer, err := DecodeXML(raw)
	if err != nil || answer["return_code"] != "FAIL" {
		return fmt.Errorf("%w: neither gzip nor a refusal", ErrMalformedBill)
	}
	refusal := &Error{ReturnCode: "FAIL", ReturnMsg: answer["return_msg"]}
	// WeChat's page writes "NO Bill Exist" where the API sends "No Bill
	// Exist": compare without case.
	switch {
	case strings.EqualFold(refusal.ReturnMsg, "No Bill Exist"):
		return fmt.Errorf("%w: %w", ErrNoBill, refusal)
	case strings.EqualFold(refusal.ReturnMsg, "Bill Creating"):
		return fmt.Errorf("%w: %w", ErrBillNotReady, refusal)
	}
	return refusal
}

// OpenBill decompresses a gzip bill as it is read, at most maxSize bytes
// of it (0 means DefaultMaxBillSize). Its reads fail with ErrMalformedBill
// when the stream is corrupt or cut short, with outbound.ErrTooLarge past
// the bound, and with the underlying reader's errors as they are when
// those wrap outbound.ErrTransport or outbound.ErrTooLarge.
func OpenBill(compressed io.Reader, maxSize int64) (io.Reader, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxBillSize
	}
	gz, err := gzip.NewReader(compressed)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // an empty answer is no bill either
	}
	if err != nil {
		return nil, billError(err)
	}
	return &billReader{r: gz, max: maxSize, left: maxSize}, nil
}

// ReadBill hands bill to read and, when read returns nil, reads what it
// left: the end of the stream is where its integrity is checked.
func ReadBill(bill io.Reader, read func(io.Reader) error) error {
	if err := read(bill); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, bill)
	return err
}

// billReader bounds a decompressed bill and names its failures.
type billReader struct {
	r    io.Reader
	max  int64 // the bound
	left int64 // bytes still allowed
	err  error // sticky
}

func (b *billReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		n, err = int(b.left), fmt.Errorf("%w: a bill over %d bytes decompressed", outbound.ErrTooLarge, b.max)
	}
	b.left -= int64(n)
	if err != nil {
		b.err = billError(err)
	}
	return n, b.err
}

// billError names a failure of reading a gzip bill: the network's and the
// bounds' errors as they are, and anything else (a bad header, a bad
// checksum, an early end) as ErrMalformedBill.
func billError(err error) error {
	if err == io.EOF || errors.Is(err, outbound.ErrTransport) || errors.Is(err, outbound.ErrTooLarge) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMalformedBill, err)
}
