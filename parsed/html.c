/*
 * html - the text of an HTML-only message, for the agent's screen.
 *
 * libxml2's HTML parser builds the tree (it copes with the tag soup mail
 * is made of and decodes every entity); the walk below keeps the text:
 * script, style, head, title and template are dropped, paragraphs (p,
 * lists, tables, headings...) are set apart by an empty line and other
 * blocks (div, li, tr, br...) start a line, table cells are set apart by a blank, runs of
 * white space become one blank (except inside <pre>), a link keeps its
 * text and, where the text does not already say it, its address after it
 * ("our shop <https://shop.example.com/>", "write to us
 * <help@example.com>"), so that the agent sees where it leads.  At most
 * one empty line in a row survives.
 */
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "parsed.h"

static const char *const skip_tags[] = {
	"script", "style", "head", "title", "template", NULL
};

/* blocks set apart by an empty line */
static const char *const para_tags[] = {
	"p", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "ul", "ol",
	"dl", "section", "article", "header", "footer", "address", "form", "fieldset", "center",
	NULL
};

/* blocks that start a line */
static const char *const line_tags[] = {
	"div", "tr", "li", "dt", "dd", "body", "html", "caption", "figure", "figcaption",
	"main", "nav", "aside", "details", "summary", NULL
};

static gboolean
in_list(const char *name, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (g_ascii_strcasecmp(name, list[i]) == 0)
			return TRUE;
	return FALSE;
}

/* add_text - a text node's content: NBSP as a blank, white space collapsed
 * unless inside <pre> */
static void
add_text(GString *out, const char *text, gboolean pre)
{
	gboolean blank = FALSE;

	for (const char *p = text; *p; p++) {
		if ((guchar)p[0] == 0xC2 && (guchar)p[1] == 0xA0) {
			p++;
			if (pre)
				g_string_append_c(out, ' ');
			else
				blank = TRUE;
			continue;
		}
		if (!pre && strchr(" \t\r\n\f\v", *p)) {
			blank = TRUE;
			continue;
		}
		if (blank || (out->len > 0 && out->str[out->len - 1] == '>' && g_ascii_isalnum(*p)))
			g_string_append_c(out, ' ');	/* and after a link's <address> */
		blank = FALSE;
		g_string_append_c(out, *p);
	}
	if (blank)
		g_string_append_c(out, ' ');
}

/* bare_url - a URL or text without what does not tell two of them apart:
 * scheme, "www.", a final "/", case */
static char *
bare_url(const char *s)
{
	static const char *const schemes[] = { "https://", "http://", "mailto:", "ftp://", NULL };
	g_autofree char *t = g_strstrip(g_strdup(s));
	const char *p = t;
	gsize n;

	for (int i = 0; schemes[i]; i++)
		if (g_ascii_strncasecmp(p, schemes[i], strlen(schemes[i])) == 0) {
			p += strlen(schemes[i]);
			break;
		}
	if (g_ascii_strncasecmp(p, "www.", 4) == 0)
		p += 4;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	return g_ascii_strdown(p, (gssize)n);
}

/* link_target - what to show after a link's text: its address, "mailto:"
 * left out; NULL when it leads nowhere an agent can follow (an anchor,
 * javascript:, an image in the message) or when the text says it already */
static char *
link_target(const char *href, const char *text)
{
	static const char *const nowhere[] = { "#", "javascript:", "cid:", "data:", "about:", NULL };
	g_autofree char *h = g_strstrip(g_strdup(href));
	g_autofree char *bh = NULL, *bt = NULL;
	const char *show = h;

	if (!*h || !*text)
		return NULL;
	for (int i = 0; nowhere[i]; i++)
		if (g_ascii_strncasecmp(h, nowhere[i], strlen(nowhere[i])) == 0)
			return NULL;
	if (g_ascii_strncasecmp(h, "mailto:", 7) == 0)
		show = h + 7;
	bh = bare_url(h);
	bt = bare_url(text);
	if (!*bh || strstr(bt, bh))
		return NULL;
	return g_strdup(show);
}

/* add_link - after the text a link added to out (from start on), its
 * address, when the text does not say it */
static void
add_link(GString *out, xmlNode *a, gsize start)
{
	xmlChar *href = xmlGetProp(a, (const xmlChar *)"href");
	g_autofree char *text = NULL, *target = NULL;

	if (!href)
		return;
	text = g_strstrip(g_strndup(out->str + start, out->len - start));
	target = link_target((const char *)href, text);
	xmlFree(href);
	if (!target)
		return;
	/* a URL cannot hold a blank or a line end: keep it in one piece */
	g_strdelimit(target, " \t\r\n", '+');
	while (out->len > start && out->str[out->len - 1] == ' ')
		g_string_truncate(out, out->len - 1);
	g_string_append_printf(out, " <%s>", target);
}

/* new_line - start a new line (lines 1) or a paragraph (2) unless the
 * text already does */
static void
new_line(GString *out, int lines)
{
	int have = 0;

	for (gsize i = out->len; i > 0 && have < 2; i--) {
		char c = out->str[i - 1];

		if (c == '\n')
			have++;
		else if (c != ' ')
			break;
	}
	if (out->len == 0)
		have = 2;
	for (; have < lines; have++)
		g_string_append_c(out, '\n');
}

/* walk - the text of node and its siblings, in document order */
static void
walk(GString *out, xmlNode *node, int pre)
{
	for (xmlNode *n = node; n; n = n->next) {
		const char *name = (const char *)n->name;
		int block;

		if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			if (n->content)
				add_text(out, (const char *)n->content, pre > 0);
			continue;
		}
		if (n->type != XML_ELEMENT_NODE || !name)
			continue;
		if (in_list(name, skip_tags))
			continue;
		if (g_ascii_strcasecmp(name, "br") == 0) {
			g_string_append_c(out, '\n');	/* always: <div><br></div> is an empty line */
			continue;
		}
		block = in_list(name, para_tags) ? 2 : in_list(name, line_tags) ? 1 : 0;
		new_line(out, block);
		if (block && !n->children)
			continue;	/* <br>, <hr>: one line end, not two */
		if (g_ascii_strcasecmp(name, "td") == 0 || g_ascii_strcasecmp(name, "th") == 0)
			g_string_append_c(out, ' ');
		{
			gsize start = out->len;

			walk(out, n->children, pre + (g_ascii_strcasecmp(name, "pre") == 0));
			if (g_ascii_strcasecmp(name, "a") == 0)
				add_link(out, n, start);
		}
		new_line(out, block);
	}
}

/* tidy - each line's blanks collapsed and trimmed, at most one empty line
 * in a row, no empty lines at either end */
static char *
tidy(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_sized_new(strlen(text));
	int empty = 0;

	for (int i = 0; lines[i]; i++) {
		char *l = g_strstrip(lines[i]);
		GString *line = g_string_sized_new(strlen(l));
		gboolean blank = FALSE;

		for (char *p = l; *p; p++) {
			if (*p == ' ' || *p == '\t') {
				blank = TRUE;
				continue;
			}
			if (blank)
				g_string_append_c(line, ' ');
			blank = FALSE;
			g_string_append_c(line, *p);
		}
		if (line->len == 0) {
			empty++;
		} else {
			if (out->len > 0)
				g_string_append(out, empty > 0 ? "\n\n" : "\n");
			g_string_append_len(out, line->str, (gssize)line->len);
			empty = 0;
		}
		g_string_free(line, TRUE);
	}
	return g_string_free(out, FALSE);
}

/* html_to_text - the text of an HTML document given as UTF-8 */
char *
html_to_text(const char *html, gsize len)
{
	g_autoptr(GString) raw = g_string_new(NULL);
	htmlDocPtr doc;

	if (len > G_MAXINT)
		len = G_MAXINT;
	doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
	    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
	    HTML_PARSE_NOIMPLIED | HTML_PARSE_IGNORE_ENC | HTML_PARSE_COMPACT);
	if (!doc)
		return g_strdup("");
	walk(raw, doc->children, 0);
	xmlFreeDoc(doc);
	return tidy(raw->str);
}
