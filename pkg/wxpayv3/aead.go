package wxpayv3

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
)

// AEADAlgorithm is the only resource encryption API v3 uses.
const AEADAlgorithm = "AEAD_AES_256_GCM"

// ErrDecrypt is a resource that does not decrypt under the APIv3 key.
var ErrDecrypt = errors.New("wxpayv3: resource does not decrypt")

// Resource is an encrypted part of a notification or a certificate answer.
type Resource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"` // base64 of ciphertext and tag
	AssociatedData string `json:"associated_data,omitempty"`
	OriginalType   string `json:"original_type,omitempty"`
	Nonce          string `json:"nonce"`
}

// APIv3KeyLen is the APIv3 key's length in bytes.
const APIv3KeyLen = 32

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != APIv3KeyLen {
		return nil, fmt.Errorf("wxpayv3: the APIv3 key must be %d bytes", APIv3KeyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Decrypt opens r with the APIv3 key: AES-256-GCM, 12-byte nonce, the
// associated data authenticated.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012071382
func Decrypt(apiV3Key []byte, r Resource) ([]byte, error) {
	if r.Algorithm != AEADAlgorithm {
		return nil, fmt.Errorf("%w: algorithm %q", ErrDecrypt, r.Algorithm)
	}
	aead, err := gcm(apiV3Key)
	if err != nil {
		return nil, err
	}
	ct, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil || len(r.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: malformed ciphertext or nonce", ErrDecrypt)
	}
	pt, err := aead.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Encrypt seals plaintext as WeChat Pay does, for simulators and tests.
// nonce must be 12 bytes.
func Encrypt(apiV3Key []byte, nonce, associatedData string, plaintext []byte) (Resource, error) {
	aead, err := gcm(apiV3Key)
	if err != nil {
		return Resource{}, err
	}
	if len(nonce) != aead.NonceSize() {
		return Resource{}, fmt.Errorf("wxpayv3: nonce must be %d bytes", aead.NonceSize())
	}
	ct := aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return Resource{Algorithm: AEADAlgorithm, Ciphertext: base64.StdEncoding.EncodeToString(ct), AssociatedData: associatedData, Nonce: nonce}, nil
}
