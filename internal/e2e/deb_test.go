package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/hal/periph/board"
	"github.com/deposit-rvm/rvm/machine/config"
)

// packages finds the .deb files of the last `make deb`. In CI they must be
// there (.ci/run builds them first); elsewhere the test says how to make
// them and skips.
func packages(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	for _, arch := range []string{"arm64", "armhf"} {
		m, _ := filepath.Glob(filepath.Join("..", "..", "dist", "rvmd_*_"+arch+".deb"))
		if len(m) == 0 {
			if os.Getenv("CI") != "" {
				t.Fatalf("dist/rvmd_*_%s.deb missing: .ci/run must run make deb before the tests", arch)
			}
			t.Skipf("no dist/rvmd_*_%s.deb: run make deb first", arch)
		}
		found[arch] = m[len(m)-1]
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatal("dpkg-deb not found")
	}
	return found
}

func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestPackages(t *testing.T) {
	wantMachine := map[string]elf.Machine{"arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM}
	for arch, file := range packages(t) {
		t.Run(arch, func(t *testing.T) {
			if got := strings.TrimSpace(dpkg(t, "-f", file, "Package")); got != "rvmd" {
				t.Errorf("Package = %q; want rvmd", got)
			}
			if got := strings.TrimSpace(dpkg(t, "-f", file, "Architecture")); got != arch {
				t.Errorf("Architecture = %q; want %s", got, arch)
			}
			ver := strings.TrimSpace(dpkg(t, "-f", file, "Version"))
			if want := "rvmd_" + ver + "_" + arch + ".deb"; filepath.Base(file) != want {
				t.Errorf("file name %s; want %s", filepath.Base(file), want)
			}

			list := dpkg(t, "-c", file)
			for _, p := range []string{"./usr/bin/rvmd", "./usr/bin/rvmctl", "./lib/systemd/system/rvmd.service", "./etc/rvm/rvmd.json", "./var/lib/rvm/"} {
				if !strings.Contains(list, " "+p+"\n") && !strings.HasSuffix(strings.TrimSpace(list), " "+p) {
					t.Errorf("package lacks %s; contents:\n%s", p, list)
				}
			}

			ctl := t.TempDir()
			dpkg(t, "-e", file, ctl)
			conf, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
			if !strings.Contains(string(conf), "/etc/rvm/rvmd.json") {
				t.Errorf("conffiles = %q; want /etc/rvm/rvmd.json", conf)
			}
			post, err := os.ReadFile(filepath.Join(ctl, "postinst"))
			if err != nil {
				t.Fatalf("postinst: %v", err)
			}
			for _, want := range []string{"adduser --system", "gpio", "dialout", "lp", "chown rvm:rvm /var/lib/rvm"} {
				if !strings.Contains(string(post), want) {
					t.Errorf("postinst lacks %q", want)
				}
			}

			root := t.TempDir()
			dpkg(t, "-x", file, root)
			unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/rvmd.service"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Type=notify", "WatchdogSec=", "Restart=on-failure", "User=rvm", "SupplementaryGroups=gpio dialout lp", "StandardOutput=journal", "ExecStart=/usr/bin/rvmd run -config /etc/rvm/rvmd.json -db /var/lib/rvm/"} {
				if !strings.Contains(string(unit), want) {
					t.Errorf("rvmd.service lacks %q", want)
				}
			}
			// The conffile is a configuration rvmd accepts, with a wiring
			// the board accepts: a fresh install starts (on a Pi wired so).
			confPath := filepath.Join(root, "etc/rvm/rvmd.json")
			if _, err := config.Load(confPath); err != nil {
				t.Errorf("packaged rvmd.json: %v", err)
			}
			if _, err := board.ParseFile(confPath); err != nil {
				t.Errorf("packaged rvmd.json's pins: %v", err)
			}
			for _, bin := range []string{"rvmd", "rvmctl"} {
				f, err := elf.Open(filepath.Join(root, "usr/bin", bin))
				if err != nil {
					t.Fatalf("%s: %v", bin, err)
				}
				if f.Machine != wantMachine[arch] {
					t.Errorf("%s is built for %v; want %v", bin, f.Machine, wantMachine[arch])
				}
				f.Close()
			}
		})
	}
}
