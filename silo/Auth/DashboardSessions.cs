using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using GidCluster.Silo.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace GidCluster.Silo.Auth;

/// <summary>
/// Browser sessions for pages a script cannot add a header to (the Orleans dashboard): the domain
/// dashboard, once its token is accepted, asks <c>POST /api/session</c> for an HttpOnly, SameSite=Strict
/// cookie holding a random session id (never the token). Sessions live in this silo's memory for 12 hours.
/// </summary>
public sealed class DashboardSessions
{
    public const string Cookie = "gid_session";
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _sessions = new(StringComparer.Ordinal);

    public string Create()
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        _sessions[id] = DateTimeOffset.UtcNow + Lifetime;
        return id;
    }

    public bool IsValid(string? id) => id != null && _sessions.TryGetValue(id, out var until) && until > DateTimeOffset.UtcNow;

    public void End(string? id)
    {
        if (id != null)
            _sessions.TryRemove(id, out _);
    }

    public static void MapSessions(WebApplication app)
    {
        // Under /api, so the token middleware has already checked the bearer token.
        app.MapPost("/api/session", (HttpContext context, DashboardSessions sessions) =>
        {
            context.Response.Cookies.Append(Cookie, sessions.Create(), new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = context.Request.IsHttps,
                Path = "/",
                MaxAge = Lifetime,
            });
            return Results.NoContent();
        });
        app.MapDelete("/api/session", (HttpContext context, DashboardSessions sessions) =>
        {
            sessions.End(context.Request.Cookies[Cookie]);
            context.Response.Cookies.Delete(Cookie, new CookieOptions { Path = "/" });
            return Results.NoContent();
        });
    }
}

/// <summary>The ASP.NET authentication scheme behind <c>RequireAuthorization()</c>: the bearer token, or a dashboard session cookie.</summary>
public sealed class GidAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, SiloOptions silo, DashboardSessions sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "gid";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var ok = sessions.IsValid(Request.Cookies[DashboardSessions.Cookie])
            || TokenAuthentication.Authorized(Request.Headers.Authorization.ToString(), Encoding.UTF8.GetBytes(silo.Token ?? ""));
        return Task.FromResult(ok
            ? AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "operator")], SchemeName)), SchemeName))
            : AuthenticateResult.NoResult());
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.ContentType = "text/plain; charset=utf-8";
        await Response.WriteAsync("Sign in on the GidCluster dashboard (/dashboard) first: it opens a session for this page.\n");
    }
}
