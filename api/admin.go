package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwt-up/jwt-up/store"
)

// KeyInfo describes one key to an operator; it never holds private parts.
type KeyInfo struct {
	KID         string     `json:"kid" example:"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"`
	Alg         string     `json:"alg" example:"RS256"`
	State       string     `json:"state" example:"active" enums:"next,active,retired,removed,revoked"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatesAt *time.Time `json:"activates_at,omitempty"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	RetiredAt   *time.Time `json:"retired_at,omitempty"`
	RemoveAt    *time.Time `json:"remove_at,omitempty"`
	RemovedAt   *time.Time `json:"removed_at,omitempty"`
}

// KeyList is the answer of GET /v1/keys.
type KeyList struct {
	Keys []KeyInfo `json:"keys"`
}

func keyInfo(k store.Key) KeyInfo {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	info := KeyInfo{
		KID: k.KID, Alg: k.Alg, State: string(k.State), CreatedAt: k.CreatedAt.UTC(),
		ActivatedAt: opt(k.ActivatedAt), RetiredAt: opt(k.RetiredAt),
		RemoveAt: opt(k.RemoveAt), RemovedAt: opt(k.RemovedAt),
	}
	if k.State == store.KeyNext {
		info.ActivatesAt = opt(k.ActivatesAt)
	}
	return info
}

// listKeys lists every key.
//
//	@Summary	List keys
//	@Tags		admin
//	@Produce	json
//	@Success	200	{object}	KeyList
//	@Failure	401	{object}	Problem	"missing or wrong admin key"
//	@Failure	429	{object}	Problem	"too many failed authentications from this address; see Retry-After"
//	@Failure	404	{object}	Problem	"the admin API is off"
//	@Security	AdminKey
//	@Router		/v1/keys [get]
func (h *handler) listKeys(c *gin.Context) {
	list := KeyList{Keys: []KeyInfo{}}
	for _, k := range h.keys.Keys() {
		list.Keys = append(list.Keys, keyInfo(k))
	}
	c.JSON(http.StatusOK, list)
}

// rotateKeys stages a new key.
//
//	@Summary		Rotate the signing key
//	@Description	Stages a new key in place of the pending next key: it is published at once and signs after one JWKS max-age. With immediate=true it signs at once and the current key retires (for a suspected leak: also revoke the old key).
//	@Tags			admin
//	@Produce		json
//	@Param			immediate	query		bool	false	"sign with the new key at once"
//	@Success		201			{object}	KeyInfo
//	@Failure		400			{object}	Problem	"immediate is not a boolean"
//	@Failure		401			{object}	Problem	"missing or wrong admin key"
//	@Failure		429			{object}	Problem	"too many failed authentications from this address; see Retry-After"
//	@Failure		404			{object}	Problem	"the admin API is off"
//	@Failure		503	{object}	Problem	"the key store did not answer; nothing changed"
//	@Security		AdminKey
//	@Router			/v1/keys/rotate [post]
func (h *handler) rotateKeys(c *gin.Context) {
	immediate := false
	if v, ok := c.GetQuery("immediate"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			abortProblem(c, probInvalid, "immediate must be true or false")
			return
		}
		immediate = b
	}
	k, err := h.keys.Rotate(c.Request.Context(), immediate)
	if err != nil {
		abortError(c, err)
		return
	}
	c.JSON(http.StatusCreated, keyInfo(k))
}

// revokeKey withdraws a key at once.
//
//	@Summary		Revoke a key
//	@Description	Removes the key from the JWKS at once and erases its private part; tokens it signed are no longer handed out from any cache. If it was signing, the next key signs from now on.
//	@Tags			admin
//	@Produce		json
//	@Param			kid	path		string	true	"key id"
//	@Success		200	{object}	KeyInfo
//	@Failure		401	{object}	Problem	"missing or wrong admin key"
//	@Failure		429	{object}	Problem	"too many failed authentications from this address; see Retry-After"
//	@Failure		404	{object}	Problem	"no published key with this kid, or the admin API is off"
//	@Failure		503	{object}	Problem	"the key store did not answer; nothing changed"
//	@Security		AdminKey
//	@Router			/v1/keys/{kid} [delete]
func (h *handler) revokeKey(c *gin.Context) {
	k, err := h.keys.Revoke(c.Request.Context(), c.Param("kid"))
	if err != nil {
		abortError(c, err)
		return
	}
	c.JSON(http.StatusOK, keyInfo(k))
}

// purgeConsumer drops a consumer's cached tokens.
//
//	@Summary		Purge a consumer's tokens
//	@Description	Drops every cached token whose subject is id (the consumer id, else username, else custom_id), so the next request mints anew. Tokens already handed out stay valid until they expire.
//	@Tags			admin
//	@Param			id	path	string	true	"the token subject"
//	@Success		204
//	@Failure		401	{object}	Problem	"missing or wrong admin key"
//	@Failure		429	{object}	Problem	"too many failed authentications from this address; see Retry-After"
//	@Failure		404	{object}	Problem	"the admin API is off"
//	@Failure		503	{object}	Problem	"the shared token cache is unreachable, so the purge would not reach every replica"
//	@Security		AdminKey
//	@Router			/v1/consumers/{id}/tokens [delete]
func (h *handler) purgeConsumer(c *gin.Context) {
	if err := h.minter.Purge(c.Request.Context(), c.Param("id")); err != nil {
		abortError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
