using System.Security.Cryptography;
using System.Text;
using GidCluster.Contracts;

namespace GidCluster.Silo.Auth;

/// <summary>
/// Every <c>/api</c> request needs <c>Authorization: Bearer TOKEN</c>; anything else gets 401.
/// The comparison takes the same time whatever the guess, and the token is never logged.
/// </summary>
public static class TokenAuthentication
{
    public static void UseTokenAuthentication(this WebApplication app, string token)
    {
        var expected = Encoding.UTF8.GetBytes(token);
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/api") && !Authorized(context.Request.Headers.Authorization.ToString(), expected))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await context.Response.WriteAsJsonAsync(new ApiError("missing or wrong API token (send Authorization: Bearer TOKEN)"));
                return;
            }
            await next(context);
        });
    }

    public static bool Authorized(string header, byte[] expected)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        var given = Encoding.UTF8.GetBytes(header[scheme.Length..].Trim());
        // FixedTimeEquals is constant-time only for equal lengths; hashing first hides the length too.
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(expected));
    }
}
