//! The in-memory stanza type and a few accessors.

/// One stanza or element. Attribute values are strings; a value that is a
/// JID is written as its canonical string (`user[.agent][:device]@server`)
/// and encoded as a JID on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub tag: String,
    pub attrs: Vec<(String, String)>,
    pub content: Content,
}

/// What a node holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Content {
    #[default]
    None,
    Bytes(Vec<u8>),
    Nodes(Vec<Node>),
}

impl Node {
    /// A node with this tag and nothing else.
    pub fn new(tag: impl Into<String>) -> Self {
        Node {
            tag: tag.into(),
            ..Default::default()
        }
    }

    /// Adds an attribute (builder style).
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attrs.push((key.into(), value.into()));
        self
    }

    /// Sets child nodes (builder style).
    pub fn children(mut self, children: Vec<Node>) -> Self {
        self.content = Content::Nodes(children);
        self
    }

    /// Sets byte content (builder style).
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// The value of attribute `key`, if present.
    pub fn get_attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Child nodes (empty when the content is not a list).
    pub fn child_nodes(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(nodes) => nodes,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.child_nodes().iter().find(|n| n.tag == tag)
    }

    /// Byte content, if that is what the node holds.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(b) => Some(b),
            _ => None,
        }
    }
}
