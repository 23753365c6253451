package mastoinbound

import "testing"

func TestText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"},
		{"line breaks", "<p>one<br>two<br/>three</p>", "one\ntwo\nthree"},
		{"entities", "<p>a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39;</p>", `a & b <c> "d" 'e'`},
		{"mention", `<p><span class="h-card"><a href="http://x/@bob" class="u-url mention">@<span>bob</span></a></span> hi</p>`, "@bob hi"},
		{"shortened link kept whole", `<p><a href="https://example.org/a/long/path"><span class="invisible">https://</span><span class="ellipsis">example.org/a/lo</span><span class="invisible">ng/path</span></a></p>`,
			"https://example.org/a/long/path"},
		{"script text is text", "<p>&lt;script&gt;x&lt;/script&gt;</p>", "<script>x</script>"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzText(f *testing.F) {
	f.Add("<p>a<br>b</p><p>c</p>")
	f.Add("<p><a href=x>@<span>bob</span></a></p>")
	f.Fuzz(func(t *testing.T, s string) {
		_ = Text(s) // never panics, always ends
	})
}
