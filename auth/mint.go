package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mint signs an HS256 token for accountID with the claims sub, account_id,
// iat, exp and, when scopes is non-empty, scope (space-separated). A token
// without scopes grants read and write.
func Mint(secret []byte, accountID string, scopes []string, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: cannot mint a token without a secret")
	}
	if !validAccountID(accountID) {
		return "", errors.New("auth: the account id must be 1-128 characters with no spaces or control characters")
	}
	if ttl <= 0 {
		return "", errors.New("auth: the token lifetime must be positive")
	}
	for _, s := range scopes {
		if s != ScopeRead && s != ScopeWrite {
			return "", fmt.Errorf("auth: unknown scope %q: use %s and/or %s", s, ScopeRead, ScopeWrite)
		}
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"sub":        accountID,
		"account_id": accountID,
		"iat":        now.Unix(),
		"exp":        now.Add(ttl).Unix(),
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
