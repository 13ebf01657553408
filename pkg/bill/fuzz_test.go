package bill

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader: whatever the input, the Reader never panics and refuses with
// ErrInvalid; every amount it accepts survives fen → yuan text → fen; and a
// bill it accepts whole, written again by Encode, reads back the same rows
// and summary.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"current.csv", "older.csv"} {
		bill := mustRead(f, name)
		f.Add([]byte(bill))
		f.Add([]byte(noBOM(lf(bill))))
		f.Add([]byte(bill[:len(bill)/2]))
	}
	var empty bytes.Buffer
	if err := Encode(&empty, Older, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(empty.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatal(err)
			}
			return
		}
		var rows []Row
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatal(err)
				}
				return
			}
			for _, fen := range []int64{row.TotalFee, row.SettlementFee, row.RefundFee} {
				if back, ok := parseFen(appendYuan(nil, fen)); !ok || back != fen {
					t.Fatalf("%d fen read back as %d %v", fen, back, ok)
				}
			}
			rows = append(rows, row)
		}
		summary, ok := r.Summary()
		if !ok || summary.Count != int64(len(rows)) {
			t.Fatalf("%+v %v after %d rows", summary, ok, len(rows))
		}
		if len(data) > MaxLineBytes/2 {
			return // written again, a row near the line limit could pass it
		}
		var buf bytes.Buffer
		if err := Encode(&buf, r.Layout(), rows); err != nil {
			t.Fatal(err)
		}
		layout, again, summary2, err := readAll(buf.String())
		if err != nil || layout != r.Layout() || summary2 != summary || len(again) != len(rows) {
			t.Fatalf("written again: %v %v %+v %d rows\n%s", err, layout, summary2, len(again), buf.Bytes())
		}
		for i := range rows {
			if again[i] != rows[i] {
				t.Fatalf("row %d written again: %+v, was %+v", i, again[i], rows[i])
			}
		}
	})
}
