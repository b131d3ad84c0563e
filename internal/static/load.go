package static

import (
	"github.com/wharfproxy/wharf/router/dynamic"
)

// Load reads the static configuration. args are the command-line arguments after the
// subcommand (["--config", "x.yml", "--entrypoints.web.address=:8000"]); env is
// os.Environ(). The layers, lowest first: defaults, the file (--config, else WHARF_CONFIG,
// else the first of ConfigSearchPath that exists), WHARF_* variables, flags.
//
// It reports every problem at once, as dynamic.Errors, each naming the option and where it
// was written (wharf.yml:12:5, WHARF_LOG_LEVEL, --log.level). On error the Config is nil.
// --help is not handled here: the caller deals with it before calling Load.
func Load(args []string, env []string) (*Config, error) {
	return load(args, env, ConfigSearchPath())
}

func load(args, env []string, search []string) (*Config, error) {
	flags, flagCfg, errs := flagLayer(args)
	envs, envCfg, envErrs := envLayer(env)
	errs = append(errs, envErrs...)

	choice, ferr := findConfig(flagCfg, envCfg, search)
	if ferr != nil {
		return nil, append(errs, ferr)
	}
	layers := []*layer{envs, flags}
	rootSrc := dynamic.Source{}
	if choice.path != "" {
		file, fileErrs := readFile(choice)
		if file == nil {
			// Without the file, every later check would only report its absence.
			return nil, append(errs, fileErrs...)
		}
		errs = append(errs, fileErrs...)
		layers = append([]*layer{file}, layers...)
		rootSrc = dynamic.Source{File: choice.path}
	}
	root, err := merge(layers, rootSrc)
	if err != nil {
		return nil, append(errs, &dynamic.Error{Msg: err.Error()})
	}

	c := &Config{file: choice.path}
	errs = append(errs, dynamic.Decode(root, c)...)
	if root.Get("api") == nil {
		c.API = &API{} // absent means on; it binds 127.0.0.1 by default, so that is safe
	}
	c.applyDefaults(env)
	errs = append(errs, c.validate(root)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}
