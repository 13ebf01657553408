package wxpayv3

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
)

// A bill of 20 MB streams through with little memory, hashed on the way:
// it is never held whole, neither compressed nor decompressed.
func TestDownloadBillStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 20 MB bill")
	}
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, trade.ChinaTime)
	name, sum, err := billsim.LargeFile(t.TempDir(), day, 90000)
	if err != nil {
		t.Fatal(err)
	}
	key := testKey(t)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v3/bill/tradebill" {
			writeSigned(t, w, key, []byte(`{"hash_type":"SHA1","hash_value":"`+hex.EncodeToString(sum)+
				`","download_url":"`+srv.URL+`/v3/billdownload/file?token=T"}`))
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeFile(w, r, name)
	}))
	defer srv.Close()
	client := clientOf(key, srv.URL)

	n, got, alloc, err := billsim.Drain(func(read func(io.Reader) error) error {
		return client.DownloadBill(context.Background(), day, read)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20<<20 || !bytes.Equal(got, sum) {
		t.Fatalf("read %d bytes, not the bill", n)
	}
	if alloc > 2<<20 {
		t.Errorf("allocated %d bytes for a bill of %d", alloc, n)
	}
	t.Logf("%d bytes, %d allocated", n, alloc)
}
