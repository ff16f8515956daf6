# A real relying party for tests/real_peers.rs: Debian's omniauth OpenID Connect strategy
# (ruby-omniauth-openid-connect, on openid_connect and rack-oauth2: Mastodon's client stack)
# configured from Mastodon's OIDC_* variables as config/initializers/omniauth.rb maps them,
# mounted at Mastodon's paths (/auth/auth/openid_connect, its callback). A failed login lands
# on /auth/sign_in with the strategy's message, as Mastodon's does; a good one shows
# "signed in as <OIDC_UID_FIELD claim>".
#   OIDC_ISSUER OIDC_CLIENT_ID OIDC_CLIENT_SECRET OIDC_REDIRECT_URI OIDC_SCOPE OIDC_UID_FIELD
#   OIDC_DISCOVERY OIDC_CLIENT_AUTH_METHOD SSL_CERT_FILE (the gateway's CA) PORT
# Prints "listening PORT" on stdout once it accepts connections.
# GITLAB=1: the same strategy mounted as GitLab mounts it (gitlab.rb omniauth_providers:
# /users/auth/openid_connect, its callback) and a failure worded as GitLab's flash: Devise's
# "Could not authenticate you from %{kind} because \"%{reason}\"." with GitLab's
# failure_message (the error's reason, error or message, humanized).
require 'cgi'
require 'json'
require 'rack'
require 'webrick'
require 'omniauth'
require 'omniauth_openid_connect'

env = ENV
GITLAB = ENV['GITLAB'] == '1'
# openid_connect 1.x talks through httpclient, which keeps its own CA bundle: trust the
# gateway's CA as Mastodon does through SSL_CERT_FILE.
if env['SSL_CERT_FILE']
  trust = ->(c) { c.ssl_config.add_trust_ca(env['SSL_CERT_FILE']) }
  OpenIDConnect.http_config(&trust)
  SWD.http_config(&trust)
  Rack::OAuth2.http_config(&trust)
end

oidc = {
  issuer: env['OIDC_ISSUER'],
  discovery: env.fetch('OIDC_DISCOVERY', 'true') == 'true',
  scope: env.fetch('OIDC_SCOPE', 'openid,profile,email').split(',').map(&:to_sym),
  uid_field: env.fetch('OIDC_UID_FIELD', 'preferred_username'),
  path_prefix: GITLAB ? '/users/auth' : '/auth/auth',
  client_options: {
    identifier: env['OIDC_CLIENT_ID'],
    secret: env['OIDC_CLIENT_SECRET'],
    redirect_uri: env['OIDC_REDIRECT_URI'],
  },
}
oidc[:client_auth_method] = env['OIDC_CLIENT_AUTH_METHOD'] if env['OIDC_CLIENT_AUTH_METHOD']

OmniAuth.config.allowed_request_methods = [:post]
OmniAuth.config.request_validation_phase = nil # Mastodon's Rails checks its own CSRF token
OmniAuth.config.logger = Logger.new($stderr)
# Rails' String#humanize, as GitLab applies it.
def humanize(s)
  s.to_s.sub(/\A_+/, '').sub(/_id\z/, '').tr('_', ' ').downcase.sub(/\A\w/, &:upcase)
end

OmniAuth.config.on_failure = lambda do |e|
  err = e['omniauth.error']
  why = if GITLAB
          reason = (err.error_reason if err.respond_to?(:error_reason))
          reason ||= (err.error if err.respond_to?(:error))
          reason ||= (err.message if err.respond_to?(:message))
          reason ||= e['omniauth.error.type'].to_s
          "Could not authenticate you from #{OmniAuth::Utils.camelize('openid_connect')} because \"#{humanize(reason)}\"."
        else
          [e['omniauth.error.type'], err&.message].compact.join(': ')
        end
  [302, { 'location' => "/auth/sign_in?rejected=#{CGI.escape(why)}" }, []]
end

def page(status, text)
  body = <<~HTML
    <!DOCTYPE html><html><head><title>relying party</title></head><body>
    <p id="outcome">#{CGI.escapeHTML(text)}</p>
    <form method="post" action="#{GITLAB ? '/users/auth' : '/auth/auth'}/openid_connect"><button id="login" type="submit">Log in with authentik</button></form>
    </body></html>
  HTML
  [status, { 'content-type' => 'text/html; charset=utf-8' }, [body]]
end

app = Rack::Builder.new do
  use Rack::Session::Cookie, key: '_mastodon_session', secret: 'real-peer-session-secret-' * 4, same_site: :lax
  use OmniAuth::Builder do
    provider :openid_connect, oidc
  end
  run lambda { |e|
    req = Rack::Request.new(e)
    case req.path
    when '/auth/sign_in'
      why = req.params['rejected']
      page(200, why ? "rejected: #{why}" : 'not signed in')
    when '/auth/auth/openid_connect/callback', '/users/auth/openid_connect/callback'
      auth = e['omniauth.auth']
      page(200, "signed in as #{auth.uid}")
    else
      page(404, 'no such page')
    end
  }
end

server = WEBrick::HTTPServer.new(
  BindAddress: '127.0.0.1', Port: Integer(env.fetch('PORT', '0')),
  Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN), AccessLog: [],
  StartCallback: -> { $stdout.puts "listening #{server_port}"; $stdout.flush }
)
define_method(:server_port) { server.config[:Port] }
server.mount '/', Rack::Handler::WEBrick, app
trap('TERM') { server.shutdown }
trap('INT') { server.shutdown }
server.start
