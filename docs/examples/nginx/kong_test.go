package nginx

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Kong does not run here; these tests keep its page honest: the kong.yml
// shown in docs/kong.md is docs/deploy/kong.yml, and its Lua compiles and
// goes through jwtup.lua.

const (
	kongPage = "../../kong.md"
	kongFile = "../../deploy/kong.yml"
)

func TestKongPageShowsDeployFile(t *testing.T) {
	page, err := os.ReadFile(kongPage)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(kongFile)
	if err != nil {
		t.Fatal(err)
	}
	var shown string
	for _, block := range fencedBlocks(string(page), "yaml") {
		if strings.Contains(block, "_format_version") {
			shown = block
		}
	}
	if shown == "" {
		t.Fatalf("%s shows no kong.yml (a yaml block with _format_version)", kongPage)
	}
	if shown != string(file) {
		t.Errorf("the kong.yml in %s differs from %s; copy the file into the page", kongPage, kongFile)
	}
}

func TestKongFunctionCompiles(t *testing.T) {
	funcs := postFunctions(t)
	if len(funcs) == 0 {
		t.Fatalf("%s has no post-function access code", kongFile)
	}
	for i, code := range funcs {
		for _, want := range []string{`require "jwtup"`, "minter:token("} {
			if !strings.Contains(code, want) {
				t.Errorf("post-function %d does not call %s", i, want)
			}
		}
	}

	// Compile each function with nginx's LuaJIT, as Kong's would.
	ng := requireNginx(t, true)
	const conf = `
load_module {{.Modules}}/ndk_http_module.so;
load_module {{.Modules}}/ngx_http_lua_module.so;
daemon off;
master_process off;
pid {{.Prefix}}/nginx.pid;
error_log {{.Prefix}}/error.log info;
events {}
http {
    client_body_temp_path {{.Prefix}}/tmp/body;
    proxy_temp_path {{.Prefix}}/tmp/proxy;
    fastcgi_temp_path {{.Prefix}}/tmp/fastcgi;
    uwsgi_temp_path {{.Prefix}}/tmp/uwsgi;
    scgi_temp_path {{.Prefix}}/tmp/scgi;
    server {
        listen {{.Listen}};
        location /compile/ {
            content_by_lua_block {
                local name = ngx.var.uri:match("^/compile/(%d+)$")
                local f, err = loadfile("{{.Prefix}}/kong-" .. name .. ".lua")
                ngx.say(f and "ok" or err)
            }
        }
    }
}
`
	data := confData{Prefix: t.TempDir(), Modules: ng.modules, Listen: freeAddr(t)}
	for i, code := range funcs {
		path := filepath.Join(data.Prefix, "kong-"+strconv.Itoa(i)+".lua")
		if err := os.WriteFile(path, []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gw, err := launchNginx(t, ng, conf, data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range funcs {
		status, body := fetch(t, gw+"/compile/"+strconv.Itoa(i))
		if status != http.StatusOK || strings.TrimSpace(body) != "ok" {
			t.Errorf("post-function %d does not compile: %d %s", i, status, body)
		}
	}
}

// postFunctions returns the access code of every post-function in
// kong.yml.
func postFunctions(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(kongFile)
	if err != nil {
		t.Fatal(err)
	}
	var decl struct {
		Services []struct {
			Plugins []struct {
				Name   string
				Config struct{ Access []string }
			}
		}
	}
	if err := yaml.Unmarshal(b, &decl); err != nil {
		t.Fatalf("parse %s: %v", kongFile, err)
	}
	var out []string
	for _, s := range decl.Services {
		for _, p := range s.Plugins {
			if p.Name == "post-function" {
				out = append(out, p.Config.Access...)
			}
		}
	}
	return out
}

// fencedBlocks returns the contents of the Markdown code blocks fenced
// with three backquotes and the given language.
func fencedBlocks(md, lang string) []string {
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.SplitAfter(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
		}
	}
	return blocks
}
