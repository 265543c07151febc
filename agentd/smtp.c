/*
 * smtp - a reply handed to the account's SMTP server with libcurl.
 *
 * smtp_tls = implicit is smtps://, starttls demands STARTTLS (never sent in
 * the clear when the server does not offer it), none is plain SMTP.  The
 * secret (common/secret.c: smtp_password_file, else the account's own
 * password_file, password_command or oauth2_token_command) is got for each
 * message, so a changed secret or an expired token needs no restart, and is
 * never logged; a token logs in with XOAUTH2.
 */
#include "agentd.h"

#include <string.h>

#include <curl/curl.h>

#include "secret.h"
#include "zsock.h"

#define CONNECT_TIMEOUT_S	20
#define TOTAL_TIMEOUT_S		120

struct upload {
	const char *data;
	size_t len;
	size_t off;
};

/* read_cb - libcurl's reader: the message, a piece at a time */
static size_t
read_cb(char *buf, size_t size, size_t n, void *cls)
{
	struct upload *u = cls;
	size_t want = size * n;
	size_t left = u->len - u->off;

	if (want > left)
		want = left;
	memcpy(buf, u->data + u->off, want);
	u->off += want;
	return want;
}

const char *
smtp_explain(int code)
{
	switch ((CURLcode)code) {
	case CURLE_OK:
		return "sent";
	case CURLE_COULDNT_RESOLVE_HOST:
		return "the server's name does not resolve";
	case CURLE_COULDNT_CONNECT:
		return "could not connect (connection refused or unreachable)";
	case CURLE_OPERATION_TIMEDOUT:
		return "the server did not answer in time";
	case CURLE_LOGIN_DENIED:
		return "authentication failed: the server refused the user or password";
	case CURLE_USE_SSL_FAILED:
		return "TLS: the server does not offer STARTTLS";
	case CURLE_SSL_CONNECT_ERROR:
		return "TLS: the handshake failed (wrong port for the TLS mode?)";
	case CURLE_PEER_FAILED_VERIFICATION:
		return "TLS: the server's certificate is not trusted or names another host";
	case CURLE_SSL_CACERT_BADFILE:
		return "TLS: the CA file cannot be read";
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return "TLS: the connection could not be secured";
	case CURLE_WEIRD_SERVER_REPLY:
		return "the server does not speak SMTP (wrong port?)";
	case CURLE_REMOTE_ACCESS_DENIED:
		return "the server refused the sender";
	case CURLE_SEND_ERROR:
		return "the server refused the message or a recipient";
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return "the server closed the connection";
	case CURLE_AUTH_ERROR:
		return "authentication failed: no login method in common with the server";
	default:
		return curl_easy_strerror((CURLcode)code);
	}
}

/* smtp_url - smtp[s]://HOST:PORT/EHLO-NAME */
static char *
smtp_url(const struct config_account *a)
{
	const char *at = strrchr(a->reply_address, '@');
	const char *helo = at ? at + 1 : "localhost";
	gboolean v6 = strchr(a->smtp_host, ':') != NULL;

	return g_strdup_printf("%s://%s%s%s:%d/%s", a->smtp_tls == TLS_IMPLICIT ? "smtps" : "smtp",
	    v6 ? "[" : "", a->smtp_host, v6 ? "]" : "", a->smtp_port, helo);
}

gboolean
smtp_send(const struct config_account *a, const char *rcpt, GBytes *msg, GError **err)
{
	g_autofree char *url = smtp_url(a);
	g_autofree char *from = g_strdup_printf("<%s>", a->reply_address);
	g_autofree char *to = g_strdup_printf("<%s>", rcpt);
	g_autofree char *password = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rcpts = NULL;
	struct upload up;
	long response = 0;
	CURLcode rc;
	CURL *c;

	if (!compose_valid_addr(rcpt) || !compose_valid_addr(a->reply_address)) {
		g_set_error(err, AGENTD_ERROR, 0, "no usable address to send to");
		return FALSE;
	}
	if (a->smtp_auth) {
		g_autoptr(GError) e = NULL;

		password = account_secret(a, SECRET_SMTP, &e);
		if (!password) {
			g_set_error(err, AGENTD_ERROR, 0, "the SMTP password cannot be read: %s",
			    e->message);
			return FALSE;
		}
	}
	c = curl_easy_init();
	if (!c) {
		g_set_error(err, AGENTD_ERROR, 0, "libcurl cannot start");
		return FALSE;
	}
	up.data = g_bytes_get_data(msg, &up.len);
	up.off = 0;
	rcpts = curl_slist_append(NULL, to);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)TOTAL_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	if (a->smtp_tls == TLS_STARTTLS)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (a->tls_ca_file && *a->tls_ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, a->tls_ca_file);
	if (a->smtp_auth) {
		curl_easy_setopt(c, CURLOPT_USERNAME, a->smtp_user);
		if (account_secret_is_token(a, SECRET_SMTP)) {
			curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, password);
			curl_easy_setopt(c, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
		} else {
			curl_easy_setopt(c, CURLOPT_PASSWORD, password);
		}
	}
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &up);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.len);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response);
	curl_easy_cleanup(c);
	curl_slist_free_all(rcpts);
	if (password)
		explicit_bzero(password, strlen(password));
	if (rc != CURLE_OK) {
		GString *why = g_string_new(NULL);

		g_string_append_printf(why, "%s:%d: %s", a->smtp_host, a->smtp_port, smtp_explain(rc));
		if (response >= 400)
			g_string_append_printf(why, " (the server said %ld)", response);
		if (*errbuf)
			g_string_append_printf(why, ": %s", errbuf);
		g_set_error(err, AGENTD_ERROR, rc, "%s", why->str);
		g_string_free(why, TRUE);
		return FALSE;
	}
	return TRUE;
}
