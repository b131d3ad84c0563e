package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkFiles writes a static configuration with a file provider and its dynamic file.
func checkFiles(t *testing.T, dynamicYAML string) string {
	t.Helper()
	dir := t.TempDir()
	dyn, cfg := filepath.Join(dir, "dynamic.yml"), filepath.Join(dir, "wharf.yml")
	static := fmt.Sprintf("entryPoints:\n  web:\n    address: \":8000\"\n  websecure:\n    address: \":8443\"\nproviders:\n  file:\n    filename: %q\n", dyn)
	if err := os.WriteFile(cfg, []byte(static), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dyn, []byte(dynamicYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runCheckCmd(args ...string) (int, string) {
	var out, errOut bytes.Buffer
	code := checkCommand(context.Background(), args, &out, &errOut)
	return code, out.String() + errOut.String()
}

const goodDynamic = `http:
  routers:
    app:
      rule: Host(` + "`app.test`" + `)
      service: app
      tls:
        certResolver: le
  services:
    app:
      loadBalancer:
        servers:
          - url: http://user:pw@10.0.0.5:8080
`

func TestCheckCleanConfiguration(t *testing.T) {
	code, out := runCheckCmd("--config", checkFiles(t, goodDynamic))
	if code != 0 {
		t.Fatalf("exit %d; want 0\n%s", code, out)
	}
	for _, want := range []string{"ENTRYPOINT", "websecure", "Host(`app.test`)", "app@file", "http://user:xxxxx@10.0.0.5:8080", "resolver le", "ok: 0 errors"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, ":pw@") {
		t.Errorf("a server password is printed:\n%s", out)
	}
}

func TestCheckReportsEachProblemWithItsFix(t *testing.T) {
	broken := strings.Replace(goodDynamic, "      service: app\n", "      servce: app\n", 1)
	cfg := checkFiles(t, broken)
	code, out := runCheckCmd("--config", cfg)
	if code != 1 {
		t.Fatalf("exit %d; want 1\n%s", code, out)
	}
	dyn := filepath.Join(filepath.Dir(cfg), "dynamic.yml")
	for _, want := range []string{dyn + ":5:7", `unknown key "servce"`, `fix: write "service"`, "FAILED: 1 error", "1 router not served"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckStrictFailsOnWarnings(t *testing.T) {
	warned := strings.Replace(goodDynamic, "rule: Host", "entryPoints: [web, webscure]\n      rule: Host", 1)
	cfg := checkFiles(t, warned)
	if code, out := runCheckCmd("--config", cfg); code != 0 || !strings.Contains(out, `fix: write "websecure"`) {
		t.Errorf("a warning alone: exit %d; want 0 with the fix\n%s", code, out)
	}
	if code, out := runCheckCmd("--strict", "--config", cfg); code != 1 {
		t.Errorf("--strict with a warning: exit %d; want 1\n%s", code, out)
	}
}

func TestCheckJSON(t *testing.T) {
	code, out := runCheckCmd("--config", checkFiles(t, goodDynamic), "--format=json")
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || len(rep.Routes) != 2 ||
		rep.Routes[0].TLS != "resolver le" || rep.Routes[0].Rule != "Host(`app.test`)" {
		t.Errorf("exit %d, %v, %+v\n%s", code, err, rep, out)
	}
}

func TestCheckUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--format", "xml"}, {"--format"}} {
		if code, out := runCheckCmd(args...); code != 2 || !strings.Contains(out, "Usage:") {
			t.Errorf("check %v: exit %d; want 2 with the usage\n%s", args, code, out)
		}
	}
}

func TestCheckStaticConfigurationErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wharf.yml")
	if err := os.WriteFile(cfg, []byte("entryPoints:\n  web:\n    adress: \":80\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runCheckCmd("--config", cfg)
	if code != 1 || !strings.Contains(out, cfg+":3:5") || !strings.Contains(out, `fix: write "address"`) {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestCheckCertificates(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "old.test", time.Now().Add(-time.Hour))
	dyn := goodDynamic + fmt.Sprintf("tls:\n  certificates:\n    - certFile: %s\n      keyFile: %s\n    - certFile: %s\n      keyFile: %s\n",
		certFile, keyFile, filepath.Join(dir, "missing.crt"), keyFile)
	code, out := runCheckCmd("--config", checkFiles(t, dyn))
	if code != 1 || !strings.Contains(out, "old.test expired on") || !strings.Contains(out, "missing.crt: no such file") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func writePair(t *testing.T, dir, name string, notAfter time.Time) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	c, k := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, k
}
