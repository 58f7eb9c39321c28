package service

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrPINFormat: a PIN is 4 to 8 digits.
var ErrPINFormat = errors.New("service: PIN must be 4 to 8 digits")

// pinIter is PBKDF2's iteration count: slow enough that a stolen ledger
// does not give up a 4-digit PIN by the million a second, fast enough that
// a login on a Pi takes a fraction of a second.
const pinIter = 100_000

// ValidPIN checks a PIN's format.
func ValidPIN(pin string) error {
	if len(pin) < 4 || len(pin) > 8 {
		return fmt.Errorf("%w (got %d characters)", ErrPINFormat, len(pin))
	}
	for _, r := range pin {
		if r < '0' || r > '9' {
			return fmt.Errorf("%w (got a %q)", ErrPINFormat, r)
		}
	}
	return nil
}

// HashPIN returns a salted PBKDF2-SHA256 hash of pin, as
// "pbkdf2-sha256$ITER$SALT$HASH" (base64), for the ledger.
func HashPIN(pin string) (string, error) {
	if err := ValidPIN(pin); err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	return hashWith(pin, salt, pinIter)
}

func hashWith(pin string, salt []byte, iter int) (string, error) {
	key, err := pbkdf2.Key(sha256.New, pin, salt, iter, 32)
	if err != nil {
		return "", fmt.Errorf("service: hash PIN: %w", err)
	}
	b := base64.RawStdEncoding
	return "pbkdf2-sha256$" + strconv.Itoa(iter) + "$" + b.EncodeToString(salt) + "$" + b.EncodeToString(key), nil
}

// CheckPIN reports whether pin matches a hash HashPIN made, in constant
// time over the hash.
func CheckPIN(hash, pin string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false, fmt.Errorf("service: stored PIN hash has an unknown format")
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 {
		return false, fmt.Errorf("service: stored PIN hash has a bad iteration count %q", parts[1])
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil {
		return false, fmt.Errorf("service: stored PIN hash has a bad salt: %w", err)
	}
	got, err := hashWith(pin, salt, iter)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1, nil
}
