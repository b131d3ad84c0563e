package static

import (
	"errors"
	"strings"
	"testing"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// loadErrors writes file (when not empty), loads it with args and env, and returns each
// error line and the file's path.
func loadErrors(t *testing.T, file string, args, env []string) (lines []string, path string) {
	t.Helper()
	if file != "" {
		path = writeConfig(t, file)
		args = append([]string{"--config", path}, args...)
	}
	c, err := load(args, env, nil)
	if err == nil {
		t.Fatalf("load succeeded: %+v", c)
	}
	var es dynamic.Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want dynamic.Errors", err)
	}
	return strings.Split(err.Error(), "\n"), path
}

// errorCase is one configuration that must fail to load with exactly these errors.
type errorCase struct {
	name string
	file string
	args []string
	env  []string
	want []string // each must be one error line exactly; FILE is the written file's path
}

func runErrorCases(t *testing.T, tests []errorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, path := loadErrors(t, tt.file, tt.args, tt.env)
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "FILE", path)
				if !contains(lines, w) {
					t.Errorf("missing error\n  %s\ngot\n  %s", w, strings.Join(lines, "\n  "))
				}
			}
			if len(lines) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n  %s", len(lines), len(tt.want), strings.Join(lines, "\n  "))
			}
		})
	}
}

// TestLoadErrorsInFile: file errors name file:line:col, the key, and a suggestion.
func TestLoadErrorsInFile(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "unknown_key_in_file_names_line_column_and_suggests",
			file: "entryPoints:\n  web:\n    adress: \":80\"\n",
			want: []string{
				`FILE:3:5: entryPoints.web.adress: unknown key "adress" (did you mean "address"?)`,
				`FILE:2:3: entryPoints.web.address: required: write a port like ":80" or host:port like "127.0.0.1:8080"`,
			},
		},
		{
			name: "unknown_section_in_file",
			file: "log:\n  level: info\nproviders:\n  dokcer:\n    watch: true\n",
			want: []string{`FILE:4:3: providers.dokcer: unknown key "dokcer" (did you mean "docker"?)`},
		},
		{
			name: "wrong_type_names_the_value",
			file: "entryPoints:\n  web:\n    address: \":80\"\n    transport:\n      respondingTimeouts:\n        readTimeout: soon\n    http2:\n      maxConcurrentStreams: many\n",
			want: []string{
				`FILE:6:9: entryPoints.web.transport.respondingTimeouts.readTimeout = "soon": not a duration (write it like 10s, 1m30s, or a number of seconds)`,
				`FILE:8:7: entryPoints.web.http2.maxConcurrentStreams = "many": not an integer`,
			},
		},
		{
			name: "http3_is_not_supported_yet",
			file: "entryPoints:\n  websecure:\n    address: \":443\"\n    http3: {}\n",
			want: []string{`FILE:4:5: entryPoints.websecure.http3: HTTP/3 is not supported yet: remove this option (HTTP/1.1 and HTTP/2 are served)`},
		},
		{
			name: "keys_differing_only_in_case",
			file: "log:\n  level: info\nLog:\n  format: json\n",
			want: []string{`FILE:3:1: Log: key "Log" is given twice (also at FILE:1:1); keys are case-insensitive`},
		},
	})
}

// TestLoadErrorsInEnvAndFlags: errors name the variable or the flag.
func TestLoadErrorsInEnvAndFlags(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "unknown_env_var_is_named",
			env:  []string{"WHARF_ENTRYPOINTS_WEB_ADRESS=:80", "WHARF_LOGG_LEVEL=info", "WHARF_CONFIG=", "OTHER_THING=1"},
			want: []string{
				`WHARF_ENTRYPOINTS_WEB_ADRESS: unknown variable: entryPoints.web has no option "ADRESS" (did you mean WHARF_ENTRYPOINTS_WEB_ADDRESS?)`,
				`WHARF_LOGG_LEVEL: unknown variable: the configuration has no option "LOGG" (did you mean WHARF_LOG_LEVEL?)`,
			},
		},
		{
			name: "unknown_flag_is_named_with_suggestion",
			args: []string{"--entrypoints.web.adress=:80", "--log.levle", "debug", "--api.insecure"},
			want: []string{
				`--entrypoints.web.adress: unknown flag: entryPoints.web has no option "adress" (did you mean --entrypoints.web.address?)`,
				`--log.levle: unknown flag: log has no option "levle" (did you mean --log.level?)`,
			},
		},
		{
			name: "flag_shape_errors",
			args: []string{"stray", "--log.level", "--entrypoints.web", "--log=x"},
			want: []string{
				`unexpected argument "stray": options are written --name=value`,
				`--log.level: needs a value: write --log.level=value`,
				`entryPoints.web.address: required: write a port like ":80" or host:port like "127.0.0.1:8080"`, // --entrypoints.web alone is `web: {}`
				`--log: unknown flag: log is a section: set one of its options (level, format, filePath, noColor)`,
			},
		},
		{
			name: "bad_address_from_env_and_flag",
			args: []string{"--entrypoints.b.address=:99999", "--entrypoints.c.address=localhost"},
			env:  []string{"WHARF_ENTRYPOINTS_A_ADDRESS=:http"},
			want: []string{
				`WHARF_ENTRYPOINTS_A_ADDRESS = ":http": port "http" is not a number from 0 to 65535`,
				`--entrypoints.b.address = ":99999": port "99999" is not a number from 0 to 65535`,
				`--entrypoints.c.address = "localhost": not host:port: write ":80", "127.0.0.1:8080" or "[::1]:443"`,
			},
		},
		{
			name: "same_option_twice_on_the_command_line",
			args: []string{"--log.level=info", "--LOG.LEVEL=debug"},
			want: []string{`--LOG.LEVEL: log.level is set twice (also by --log.level); give it once`},
		},
		{
			name: "section_value_and_option_in_one_layer",
			args: []string{"--api=false", "--api.debug"},
			want: []string{`--api.debug: conflicts with --api, which sets the section it belongs to; give one of them`},
		},
	})
}

// TestLoadErrorsInValues: values that decode but make no sense.
func TestLoadErrorsInValues(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "bad_cidr",
			file: "entryPoints:\n  web:\n    address: \":80\"\n    forwardedHeaders:\n      trustedIPs: [10.0.0.0/8, 10.0.0.0/33]\n    proxyProtocol:\n      trustedIPs: [\"not-an-ip\"]\n",
			want: []string{
				`FILE:5:32: entryPoints.web.forwardedHeaders.trustedIPs[1] = "10.0.0.0/33": not an IP address or a CIDR: write 192.0.2.7, 10.0.0.0/8 or 2001:db8::/32`,
				`FILE:7:20: entryPoints.web.proxyProtocol.trustedIPs[0] = "not-an-ip": not an IP address or a CIDR: write 192.0.2.7, 10.0.0.0/8 or 2001:db8::/32`,
			},
		},
		{
			name: "redirect_to_unknown_entrypoint",
			file: "entryPoints:\n  web:\n    address: \":80\"\n    http:\n      redirections:\n        entryPoint:\n          to: websecur\n  websecure:\n    address: \":443\"\n",
			want: []string{`FILE:7:11: entryPoints.web.http.redirections.entryPoint.to = "websecur": no entrypoint has this name (did you mean "websecure"?); name one of web, websecure, or a port like ":443"`},
		},
		{
			name: "redirect_to_itself",
			args: []string{"--entrypoints.web.address=:80", "--entrypoints.web.http.redirections.entrypoint.to=web"},
			want: []string{`--entrypoints.web.http.redirections.entrypoint.to = "web": an entrypoint cannot redirect to itself`},
		},
		{
			name: "acme_without_email_or_challenge",
			file: "certificatesResolvers:\n  le:\n    acme:\n      storage: /data\n",
			want: []string{
				`FILE:3:5: certificatesResolvers.le.acme.email: required: the ACME account's contact address (without it the ACME client would wait for one on stdin)`,
				`FILE:3:5: certificatesResolvers.le.acme: choose how to prove control of the names: httpChallenge, tlsChallenge or dnsChallenge`,
			},
		},
		{
			name: "acme_http_challenge_on_unknown_entrypoint",
			args: []string{"--certificatesresolvers.le.acme.email=a@example.com", "--certificatesresolvers.le.acme.httpchallenge.entrypoint=webb", "--entrypoints.web.address=:80"},
			want: []string{`--certificatesresolvers.le.acme.httpchallenge.entrypoint = "webb": no entrypoint has this name (did you mean "web"?)`},
		},
		{
			name: "file_provider_needs_exactly_one_source",
			file: "providers:\n  file:\n    filename: a.yml\n    directory: /d\n",
			want: []string{`FILE:2:3: providers.file: give exactly one of filename and directory`},
		},
		{
			name: "log_and_access_log_values",
			file: "log:\n  level: loud\n  format: xml\naccessLog:\n  format: clf\n  filters:\n    statusCodes: [\"200\", \"5xx\"]\n",
			want: []string{
				`FILE:2:3: log.level = "loud": must be one of trace, debug, info, warn, error, fatal, panic`,
				`FILE:3:3: log.format = "xml": must be one of json, console`,
				`FILE:5:3: accessLog.format = "clf": must be one of common, json`,
				`FILE:7:26: accessLog.filters.statusCodes[1] = "5xx": not a status code or range: write "404" or "500-599"`,
			},
		},
		{
			name: "negative_duration",
			args: []string{"--server.graceTimeout=-5s"},
			want: []string{`--server.graceTimeout = "-5s": must not be negative`},
		},
		{
			name: "ping_on_disabled_api",
			file: "api: false\nping: {}\n",
			want: []string{`FILE:2:1: ping.entryPoint: served on the API's listener, which is off (api: false): set ping.entryPoint to an entrypoint`},
		},
	})
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func TestLoadFileErrors(t *testing.T) {
	t.Run("explicit_config_that_does_not_exist", func(t *testing.T) {
		lines, _ := loadErrors(t, "", []string{"--config", "/nonexistent/wharf.yml"}, nil)
		want := `--config = "/nonexistent/wharf.yml": the file does not exist; check the path`
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("got %q; want %q", lines, want)
		}
	})
	t.Run("config_from_env_that_does_not_exist", func(t *testing.T) {
		lines, _ := loadErrors(t, "", nil, []string{"WHARF_CONFIG=/nonexistent/wharf.yml"})
		want := `WHARF_CONFIG = "/nonexistent/wharf.yml": the file does not exist; check the path`
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("got %q; want %q", lines, want)
		}
	})
	t.Run("unsupported_extension", func(t *testing.T) {
		lines, _ := loadErrors(t, "", []string{"--config=traefik.json"}, nil)
		want := `--config = "traefik.json": the configuration file must be YAML (.yml, .yaml) or TOML (.toml)`
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("got %q; want %q", lines, want)
		}
	})
	t.Run("yaml_syntax_error_has_line", func(t *testing.T) {
		lines, path := loadErrors(t, "log:\n  level: [info\n", []string{"--bogus=1"}, nil)
		if len(lines) != 2 || !strings.HasPrefix(lines[1], path+":") || !strings.Contains(lines[1], "invalid YAML") {
			t.Errorf("got %q; want the bad flag and the YAML error", lines)
		}
	})
}
