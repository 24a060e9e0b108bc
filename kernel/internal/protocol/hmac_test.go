package protocol_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// hmacHex signs frames the way jupyter_client does, independently of the package.
func hmacHex(key string, frames ...[]byte) []byte {
	mac := hmac.New(sha256.New, []byte(key))
	for _, f := range frames {
		mac.Write(f)
	}
	return []byte(hex.EncodeToString(mac.Sum(nil)))
}
