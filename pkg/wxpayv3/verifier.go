package wxpayv3

import (
	"context"
	"crypto/rsa"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// DownloadInterval is how often, at most, a Verifier tries to download the
// platform certificates. Anyone can post a notification naming any serial,
// so every attempt counts: the first, and the failed ones.
const DownloadInterval = time.Minute

// Verifier checks answers and notifications with the key their
// Wechatpay-Serial names: the WeChat Pay public key for its id, any other
// serial among WeChat Pay's platform certificates.
//
// With no public key it is certificate mode: the certificates are
// downloaded by the first verification, and again when a serial is unknown,
// so that a failed first download and a certificate rotation heal by
// themselves. With the public key it is the mixed mode of a merchant moving
// from certificates to the public key, who receives both kinds of signature;
// a merchant with no certificates never sees another serial but a forged
// one. Either way a download is tried at most once per DownloadInterval.
//
// Nothing runs in the background: a download happens inside the
// verification that needs it, bounded by its context. A Verifier is safe for
// concurrent use.
type Verifier struct {
	PublicKeyID string         // the WeChat Pay public key's id, PUB_KEY_ID_…; "" for none
	PublicKey   *rsa.PublicKey // the WeChat Pay public key; nil for none
	// Download fetches the current platform certificates by serial,
	// typically Client.DownloadCertificates; nil means serials other than
	// PublicKeyID are unknown.
	Download func(ctx context.Context) (PublicKeys, error)
	// Now is the clock of the timestamp window and of the download
	// interval; nil means time.Now.
	Now func() time.Time

	mu    sync.RWMutex
	certs PublicKeys // the last certificates downloaded

	download sync.Mutex // held by the one verification that downloads
	tried    time.Time  // when a download was last tried; zero for never
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify checks s over body as the package function Verify does, with the
// key s.Serial names. An unknown serial makes it download the platform
// certificates first when the interval allows; otherwise, or when the
// serial is still unknown, the error is ErrUnknownSerial.
func (v *Verifier) Verify(ctx context.Context, s Signed, body []byte) error {
	if err := s.check(v.now()); err != nil {
		return err
	}
	key, err := v.key(ctx, s.Serial)
	if err != nil {
		return err
	}
	return s.verify(key, body)
}

// key finds the key for serial, downloading the certificates when needed
// and allowed.
func (v *Verifier) key(ctx context.Context, serial string) (*rsa.PublicKey, error) {
	if v.PublicKey != nil && serial == v.PublicKeyID {
		return v.PublicKey, nil
	}
	if k, ok := v.cert(serial); ok {
		return k, nil
	}
	if v.Download == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownSerial, serial)
	}
	v.download.Lock()
	defer v.download.Unlock()
	// Whoever held the lock before may have downloaded it.
	if k, ok := v.cert(serial); ok {
		return k, nil
	}
	now := v.now()
	if !v.tried.IsZero() && now.Sub(v.tried) < DownloadInterval {
		return nil, fmt.Errorf("%w: %s (certificates tried less than %v ago)", ErrUnknownSerial, serial, DownloadInterval)
	}
	v.tried = now
	fresh, err := v.Download(ctx)
	if err != nil {
		// %v: the download's own failure is not the answer's.
		return nil, fmt.Errorf("%w: %s (downloading the platform certificates: %v)", ErrUnknownSerial, serial, err)
	}
	v.mu.Lock()
	v.certs = fresh
	v.mu.Unlock()
	if k, ok := fresh[serial]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %s (not among the certificates downloaded)", ErrUnknownSerial, serial)
}

func (v *Verifier) cert(serial string) (*rsa.PublicKey, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, ok := v.certs[serial]
	return k, ok
}

// DownloadCertificates fetches WeChat Pay's platform certificates and
// decrypts them with the APIv3 key, in one attempt (a Verifier counts each)
// bounded by HTTP.AttemptTimeout, so that a download inside a notification
// leaves time to answer it. A certificate is trusted because it decrypts
// under the APIv3 key and the answer carrying it verifies with one of the
// certificates it carries (or the WeChat Pay public key, in mixed mode).
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012551764
func (c *Client) DownloadCertificates(ctx context.Context) (PublicKeys, error) {
	h := c.http()
	h.MaxAttempts = 1
	req := c.request(http.MethodGet, "/v3/certificates", nil)
	var fresh PublicKeys
	req.Check = func(r *outbound.Response) (err error) {
		if r.StatusCode != http.StatusOK {
			return &Error{StatusCode: r.StatusCode, Message: "certificate download refused", RequestID: r.RequestID}
		}
		if fresh, err = c.readCertificates(r); err != nil {
			return &answerError{r.RequestID, err}
		}
		return nil
	}
	if _, err := h.Do(ctx, req); err != nil {
		return nil, err
	}
	return fresh, nil
}

// readCertificates decrypts the certificates of a download's answer and
// verifies the answer with them.
func (c *Client) readCertificates(r *outbound.Response) (PublicKeys, error) {
	var answer struct {
		Data []struct {
			SerialNo           string   `json:"serial_no"`
			EncryptCertificate Resource `json:"encrypt_certificate"`
		} `json:"data"`
	}
	if err := jsonUnmarshal(r.Body, &answer); err != nil {
		return nil, err
	}
	fresh := PublicKeys{}
	for _, d := range answer.Data {
		pemBytes, err := Decrypt(c.APIv3Key, d.EncryptCertificate)
		if err != nil {
			return nil, fmt.Errorf("platform certificate %s: %w", d.SerialNo, err)
		}
		key, err := ParsePublicKey(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("platform certificate %s: %w", d.SerialNo, err)
		}
		fresh[d.SerialNo] = key
	}
	keys := maps.Clone(fresh)
	if v := c.Verifier; v.PublicKey != nil {
		keys[v.PublicKeyID] = v.PublicKey
	}
	if err := Verify(keys, SignedFromHeader(r.Header), r.Body, c.Verifier.now()); err != nil {
		return nil, fmt.Errorf("certificate download: %w", err)
	}
	return fresh, nil
}
