package wxpayv3

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"sync"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// Certificates holds WeChat Pay's platform certificates (certificate mode),
// downloaded from /v3/certificates and decrypted with the APIv3 key. It is
// filled by Refresh, which the client calls at start and again, once, when
// an answer names a serial it lacks; nothing runs in the background.
type Certificates struct {
	APIv3Key []byte

	mu   sync.RWMutex
	keys map[string]*rsa.PublicKey
}

// PublicKey returns the platform key with serial.
func (c *Certificates) PublicKey(serial string) (*rsa.PublicKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[serial]
	return k, ok
}

// Refresh downloads the platform certificates. A certificate is trusted
// because it decrypts under the APIv3 key and the answer carrying it
// verifies with one of the certificates it carries.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012551764
func (c *Certificates) Refresh(ctx context.Context, client *Client) error {
	// One attempt: a refresh runs inside another request's verification.
	h := client.http()
	h.MaxAttempts = 1
	req := client.request(http.MethodGet, "/v3/certificates", nil)
	fresh := PublicKeys{}
	req.Check = func(r *outbound.Response) error {
		if r.StatusCode != http.StatusOK {
			return &Error{StatusCode: r.StatusCode, Message: "certificate download refused", RequestID: r.RequestID}
		}
		var answer struct {
			Data []struct {
				SerialNo           string   `json:"serial_no"`
				EncryptCertificate Resource `json:"encrypt_certificate"`
			} `json:"data"`
		}
		if err := jsonUnmarshal(r.Body, &answer); err != nil {
			return err
		}
		for _, d := range answer.Data {
			pemBytes, err := Decrypt(c.APIv3Key, d.EncryptCertificate)
			if err != nil {
				return fmt.Errorf("platform certificate %s: %w", d.SerialNo, err)
			}
			key, err := ParsePublicKey(pemBytes)
			if err != nil {
				return fmt.Errorf("platform certificate %s: %w", d.SerialNo, err)
			}
			fresh[d.SerialNo] = key
		}
		if err := Verify(fresh, SignedFromHeader(r.Header), r.Body, client.Signer.now()); err != nil {
			return fmt.Errorf("certificate download: %w", err)
		}
		return nil
	}
	if _, err := h.Do(ctx, req); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = fresh
	return nil
}
