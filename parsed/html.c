/*
 * html - the text of an HTML-only message, for the agent's screen.
 *
 * libxml2's HTML parser builds the tree (it copes with the tag soup mail
 * is made of and decodes every entity); the walk below keeps the text:
 * script, style, head, title and template are dropped, block elements
 * start and end a line, table cells are set apart by a blank, runs of
 * white space become one blank (except inside <pre>), a link keeps its
 * text.  At most one empty line in a row survives.
 */
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "parsed.h"

static const char *const skip_tags[] = {
	"script", "style", "head", "title", "template", NULL
};

static const char *const block_tags[] = {
	"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5",
	"h6", "blockquote", "pre", "hr", "dl", "dt", "dd", "section", "article",
	"header", "footer", "address", "form", "fieldset", "center", "body", "html", NULL
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
		if (blank)
			g_string_append_c(out, ' ');
		blank = FALSE;
		g_string_append_c(out, *p);
	}
	if (blank)
		g_string_append_c(out, ' ');
}

/* walk - the text of node and its siblings, in document order */
static void
walk(GString *out, xmlNode *node, int pre)
{
	for (xmlNode *n = node; n; n = n->next) {
		const char *name = (const char *)n->name;
		gboolean block;

		if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			if (n->content)
				add_text(out, (const char *)n->content, pre > 0);
			continue;
		}
		if (n->type != XML_ELEMENT_NODE || !name)
			continue;
		if (in_list(name, skip_tags))
			continue;
		block = in_list(name, block_tags);
		if (block)
			g_string_append_c(out, '\n');
		if (block && !n->children)
			continue;	/* <br>, <hr>: one line end, not two */
		if (g_ascii_strcasecmp(name, "td") == 0 || g_ascii_strcasecmp(name, "th") == 0)
			g_string_append_c(out, ' ');
		walk(out, n->children, pre + (g_ascii_strcasecmp(name, "pre") == 0));
		if (block)
			g_string_append_c(out, '\n');
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
