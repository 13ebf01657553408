package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// pack writes the deployment zip: the binary at the root, executable, as
// SCF's Go runtime expects.
func pack(args []string) error {
	fs := flag.NewFlagSet("package", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	out := fs.String("out", "build/wxpay.zip", "the zip to write")
	fs.Parse(args)
	size, err := writeZip(*binary, *out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s at the root, %.1f MB zipped\n", *out, filepath.Base(*binary), float64(size)/1e6)
	return nil
}

// writeZip writes binary into the zip out as SCF takes it and returns the
// zip's size in bytes.
func writeZip(binary, out string) (int64, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return 0, err
	}
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	z := zip.NewWriter(f)
	h := &zip.FileHeader{Name: filepath.Base(binary), Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := z.CreateHeader(h)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(bin); err != nil {
		return 0, err
	}
	if err := z.Close(); err != nil {
		return 0, err
	}
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}
